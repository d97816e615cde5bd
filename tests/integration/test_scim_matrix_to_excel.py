"""A SCIM service's users (scim2-server) into an Excel sheet, planned in process in every
shape — in memory, lean, spilled, scoped to keys, with a `where` — then applied: a run
after it plans nothing in any shape, whatever a SCIM value's type (booleans, numbers,
complex and multi-valued attributes) or the cell Excel keeps it in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest

from schemas.connections import ExcelConnection, ScimConnection, SecretRef
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Safety
from services.runner.planning import PlannedRun
from tests.scim_server import TOKEN, client

from .test_scoped_reads import applied, plan_between
from .test_sql_matrix_typed import SHAPES, shaped, shown

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USERS: list[dict[str, Any]] = [
    {
        "userName": "ada",
        "active": True,
        "name": {"givenName": "Ada"},
        "emails": [
            {"type": "home", "value": "ada@home.example"},
            {"type": "work", "value": "Ada@Example.org"},
        ],
        "roles": [{"value": "wiki"}, {"value": "staff"}],
        ENTERPRISE: {"employeeNumber": "1001", "department": "Research"},
    },
    {
        "userName": "grace",
        "active": False,
        "name": {"givenName": "Grace"},
        "emails": [{"type": "work", "value": "grace@example.org"}],
        ENTERPRISE: {"employeeNumber": "1002"},
    },
    {"userName": "alan", "name": {"givenName": "Alan"}},
]


def seed(url: str) -> None:
    with client(url) as http:
        for user in USERS:
            schemas = ["urn:ietf:params:scim:schemas:core:2.0:User"]
            if ENTERPRISE in user:
                schemas.append(ENTERPRISE)
            answer = http.post("/Users", json={"schemas": schemas, **user})
            assert answer.status_code == 201, answer.text


def the_job(where: Any = None) -> Job:
    return Job(
        id="to-sheet",
        source=Endpoint(connection="hr", where=where),
        destination=Endpoint(connection="books", file="people.xlsx"),
        objects=[
            ObjectMapping(
                keys=["login"],
                fields=[
                    FieldMap(to="login", from_="userName"),
                    FieldMap(to="given", from_="name.givenName"),
                    FieldMap(to="active"),
                    FieldMap(to="mail", from_='emails[type eq "work"].value'),
                    FieldMap(to="roles", from_="roles.value", delimiter="|"),
                    FieldMap(to="emp", from_=f"{ENTERPRISE}:employeeNumber"),
                    FieldMap(to="dept", from_=f"{ENTERPRISE}:department"),
                ],
                on_destination_only="delete",
            )
        ],
        safety=Safety(max_percent=100),
    )


HEADER = ["login", "given", "active", "mail", "roles", "emp", "dept"]


async def plans(
    source: ScimConnection, target: ExcelConnection, keys: list[str]
) -> dict[str, PlannedRun]:
    found = {}
    for shape in SHAPES:
        with shaped(shape):
            found[shape] = await plan_between(source, target, the_job(), None)
    found["keys"] = await plan_between(source, target, the_job(), keys)
    found["where"] = await plan_between(
        source, target, the_job({"not": {"field": "userName", "equals": "nobody"}}), None
    )
    return found


@pytest.fixture
def sides(scim_url: str, tmp_path: Path) -> tuple[ScimConnection, ExcelConnection]:
    seed(scim_url)
    (tmp_path / "token").write_text(TOKEN + "\n")
    source = ScimConnection(
        id="hr", url=scim_url, token=SecretRef(file=str(tmp_path / "token")), page_size=2
    )
    book: Any = openpyxl.Workbook()
    book.active.append(HEADER)
    book.save(tmp_path / "people.xlsx")
    return source, ExcelConnection(id="books", directory=str(tmp_path))


async def test_scim_users_into_a_sheet_then_nothing_in_every_shape(
    sides: tuple[ScimConnection, ExcelConnection], tmp_path: Path
) -> None:
    source, target = sides
    first = await plans(source, target, ["ada", "grace", "alan"])
    memory = shown(first["memory"])
    assert len(memory) == 3 and all(c.startswith("create") for c in memory), memory
    for shape, planned in first.items():
        assert shown(planned) == memory, shape
        if shape not in ("keys",):
            assert planned.plan.hash == first["memory"].plan.hash, shape
    outcomes, _ = await applied(source, target, the_job(), first["memory"].plan.changes)
    assert [o.error for o in outcomes] == [None] * 3
    again = await plans(source, target, ["ada", "grace", "alan"])
    for shape, planned in again.items():
        assert shown(planned) == [], shape

    # Someone opens the sheet and retypes the cells as Excel would type them: a boolean,
    # numbers (one as a float).
    book: Any = openpyxl.load_workbook(tmp_path / "people.xlsx")
    sheet = book.active
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    rows["ada"][2].value = True
    rows["grace"][2].value = False
    rows["ada"][5].value = 1001
    rows["grace"][5].value = 1002.0
    book.save(tmp_path / "people.xlsx")
    retyped = await plans(source, target, ["ada", "grace", "alan"])
    for shape, planned in retyped.items():
        assert shown(planned) == [], shape
