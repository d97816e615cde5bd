"""A run scoped to keys typed in another case than the source holds them, for a job that
compares keys without case, from a SCIM service, Entra ID and an Excel sheet into SQLite:
it plans what a whole run plans for those objects — the update, and no create of a
second object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest

from schemas.connections import (
    Connection,
    ExcelConnection,
    ScimConnection,
    SecretRef,
    SqliteConnection,
)
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping
from tests.graph_server import Tenant
from tests.scim_server import TOKEN, client

from .entra_helpers import connection as entra_connection
from .entra_helpers import user
from .test_scoped_reads import plan_between, table
from .test_sql_matrix_typed import shown


def the_job(provider: str) -> Job:
    key_from = {"scim": "userName", "entra": "employeeId", "excel": "id"}[provider]
    name_from = {"scim": "displayName", "entra": "displayName", "excel": "name"}[provider]
    return Job(
        id="asked",
        source=Endpoint(connection="src", file="hr.xlsx" if provider == "excel" else None),
        destination=Endpoint(connection="db", table="people"),
        objects=[
            ObjectMapping(
                keys=["login"],
                fields=[FieldMap(to="login", from_=key_from), FieldMap(to="name", from_=name_from)],
                case_insensitive=True,
            )
        ],
    )


@pytest.mark.parametrize("provider", ["scim", "entra", "excel"])
async def test_keys_asked_in_another_case(
    provider: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source: Connection
    if provider == "scim":
        url: str = request.getfixturevalue("scim_url")
        with client(url) as http:
            for name in ("ada", "grace"):
                body = {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": name,
                    "displayName": f"New {name}",
                }
                assert http.post("/Users", json=body).status_code == 201
        (tmp_path / "token").write_text(TOKEN + "\n")
        source = ScimConnection(id="src", url=url, token=SecretRef(file=str(tmp_path / "token")))
    elif provider == "entra":
        tenant: Tenant = request.getfixturevalue("graph_tenant")
        for name in ("ada", "grace"):
            user(tenant, name, displayName=f"New {name}")
        source = entra_connection(tmp_path, tenant, id="src")
    else:
        book: Any = openpyxl.Workbook()
        for row in (["id", "name"], ["ada", "New ada"], ["grace", "New grace"]):
            book.active.append(row)
        book.save(tmp_path / "hr.xlsx")
        source = ExcelConnection(id="src", directory=str(tmp_path))
    table(tmp_path / "db.sqlite", "people", ["login", "name"], [("Ada", "Old"), ("grace", "Old")])
    target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))
    whole = await plan_between(source, target, the_job(provider), None)
    expected = [c for c in shown(whole) if " Ada " in c or c.startswith("update Ada")]
    assert [c.split(" ")[:2] for c in expected] == [["update", "Ada"]], shown(whole)
    for asked in (["ADA"], ["ada"], ["Ada"]):
        scoped = await plan_between(source, target, the_job(provider), asked)
        assert shown(scoped) == expected, (asked, shown(scoped))
