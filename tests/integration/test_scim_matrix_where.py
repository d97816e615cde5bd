"""A `where` on SCIM attributes the job does not map (active, a work address, an
extension's attribute, a sub-attribute): each is read for it, in every shape — in
memory, lean, spilled, scoped to keys — so the records out of scope are exactly those the
condition leaves out, and nothing else looks absent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.connections import ScimConnection, SecretRef, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Safety
from tests.scim_server import TOKEN, client

from .test_scoped_reads import plan_between, table
from .test_sql_matrix_typed import SHAPES, shaped, shown

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
WHERES: dict[str, Any] = {
    "boolean": {"field": "active", "equals": "true"},
    "item": {"field": 'emails[type eq "work"].value', "equals": "u1@example.org"},
    "extension": {"field": f"{ENTERPRISE}:department", "equals": "Sales"},
    "sub-attribute": {"field": "name.familyName", "equals": "One"},
    "other case": {"field": "Active", "equals": "true"},
}


def the_job(where: Any) -> Job:
    return Job(
        id="where",
        source=Endpoint(connection="hr", where=where),
        destination=Endpoint(connection="db", table="people"),
        objects=[
            ObjectMapping(
                keys=["id"],
                fields=[
                    FieldMap(to="id", from_="userName"),
                    FieldMap(to="name", from_="displayName"),
                ],
                on_destination_only="delete",
            )
        ],
        safety=Safety(max_percent=100),
    )


@pytest.mark.parametrize("where", list(WHERES))
async def test_a_where_on_attributes_not_mapped(scim_url: str, tmp_path: Path, where: str) -> None:
    with client(scim_url) as http:
        for n, active, dept in ((1, True, "Sales"), (2, False, "Research")):
            body = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                "userName": f"u{n}",
                "displayName": f"U{n}",
                "active": active,
                "name": {"familyName": ["One", "Two"][n - 1]},
                "emails": [
                    {"type": "home", "value": f"u{n}@home.example"},
                    {"type": "work", "value": f"u{n}@example.org"},
                ],
                ENTERPRISE: {"department": dept},
            }
            assert http.post("/Users", json=body).status_code == 201, body
    table(tmp_path / "db.sqlite", "people", ["id", "name"], [("u1", "U1"), ("u2", "U2")])
    (tmp_path / "token").write_text(TOKEN + "\n")
    source = ScimConnection(id="hr", url=scim_url, token=SecretRef(file=str(tmp_path / "token")))
    target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))
    job = the_job(WHERES[where])
    planned = {}
    for shape in SHAPES:
        with shaped(shape):
            planned[shape] = await plan_between(source, target, job, None)
    planned["keys"] = await plan_between(source, target, job, ["u1", "u2"])
    for shape, plan in planned.items():
        expected = [] if shape == "keys" else ["delete u2 [] []"]
        assert shown(plan) == expected, (shape, shown(plan))
