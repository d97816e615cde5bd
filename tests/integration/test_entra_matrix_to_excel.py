"""Entra ID's users (the tests' Graph) into an Excel sheet, planned in process in every
shape — in memory, lean, spilled, scoped to keys, incremental (Graph's delta link), with a
`where`, keys compared without case — then applied: a run after it plans nothing in any
shape (booleans, dates, multi-valued properties, a manager); then a change, a leaver
(deleted in Entra) and a newcomer, seen alike by every shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl

from schemas.connections import EntraConnection, ExcelConnection
from schemas.jobs import Changes, Endpoint, FieldMap, Job, ObjectMapping, Safety
from services.runner.planning import PlannedRun
from services.runner.planning.reading import Reading
from tests.graph_server import Tenant

from .entra_helpers import connection, user
from .test_scoped_reads import applied, plan_between
from .test_sql_matrix_typed import SHAPES, shaped, shown

HEADER = ["upn", "name", "enabled", "hired", "phones", "mails", "boss", "dept"]


def the_job(where: Any = None, **more: Any) -> Job:
    return Job(
        id="entra-to-sheet",
        source=Endpoint(connection="cloud", query="department eq 'Sales'", where=where),
        destination=Endpoint(connection="books", file="people.xlsx"),
        objects=[
            ObjectMapping(
                keys=["upn"],
                fields=[
                    FieldMap(to="upn", from_="userPrincipalName"),
                    FieldMap(to="name", from_="displayName"),
                    FieldMap(to="enabled", from_="accountEnabled"),
                    FieldMap(to="hired", from_="employeeHireDate"),
                    FieldMap(to="phones", from_="businessPhones", delimiter="|"),
                    FieldMap(to="mails", from_="otherMails", delimiter="|"),
                    FieldMap(to="boss", from_="manager"),
                    FieldMap(to="dept", from_="department"),
                ],
                on_destination_only="delete",
                **more,
            )
        ],
        changes=Changes(),
        safety=Safety(max_percent=100),
    )


async def plans(
    source: EntraConnection, target: ExcelConnection, keys: list[str], since: str | None
) -> dict[str, PlannedRun]:
    found = {}
    for shape in SHAPES:
        with shaped(shape):
            found[shape] = await plan_between(source, target, the_job(), None)
    found["keys"] = await plan_between(source, target, the_job(), keys)
    if since is not None:
        found["incremental"] = await plan_between(
            source, target, the_job(), None, Reading(incremental=True, since=since)
        )
    found["where"] = await plan_between(
        source, target, the_job({"not": {"field": "displayName", "equals": "x"}}), None
    )
    found["no case"] = await plan_between(source, target, the_job(case_insensitive=True), None)
    return found


async def test_entra_users_into_a_sheet_in_every_shape(
    graph_tenant: Tenant, tmp_path: Path
) -> None:
    domain = graph_tenant.domain
    made = {
        key: user(
            graph_tenant,
            key,
            department="Sales",
            businessPhones=["+1 555"],
            otherMails=[f"{key.lower()}@b.example", f"{key.lower()}@a.example"],
            employeeHireDate="2024-03-01T00:00:00Z",
            accountEnabled=key != "E2",
        )
        for key in ("E1", "E2", "E3")
    }
    user(graph_tenant, "R1", department="Research")
    graph_tenant.graph(
        "PUT",
        f"users/{made['E2']['id']}/manager/$ref",
        {"@odata.id": f"https://graph.microsoft.com/v1.0/users/{made['E1']['id']}"},
    )
    book: Any = openpyxl.Workbook()
    book.active.append(HEADER)
    book.save(tmp_path / "people.xlsx")
    source = connection(tmp_path, graph_tenant)
    target = ExcelConnection(id="books", directory=str(tmp_path))
    upns = [f"e{n}@{domain}" for n in (1, 2, 3)]

    first = await plans(source, target, upns, None)
    memory = shown(first["memory"])
    assert [c.split(" ")[:2] for c in memory] == [["create", k] for k in upns], memory
    for shape, planned in first.items():
        assert shown(planned) == memory, shape
    assert f"('boss', 'e1@{domain}')" in memory[1], memory[1]
    outcomes, _ = await applied(source, target, the_job(), first["memory"].plan.changes)
    assert [o.error for o in outcomes] == [None] * 3
    mark = first["memory"].watermark
    assert mark is not None

    again = await plans(source, target, upns, mark)
    for shape, planned in again.items():
        assert shown(planned) == [], shape

    # E1 renamed, E3 deleted (a leaver), E4 new
    graph_tenant.graph("PATCH", f"users/{made['E1']['id']}", {"displayName": "Ada"})
    graph_tenant.graph("DELETE", f"users/{made['E3']['id']}")
    user(graph_tenant, "E4", department="Sales")
    changed = await plans(source, target, [*upns, f"e4@{domain}"], mark)
    whole = [c.split(" ")[:2] for c in shown(changed["memory"])]
    assert whole == [["create", f"e4@{domain}"], ["delete", f"e3@{domain}"], ["update", upns[0]]]
    for shape, planned in changed.items():
        expected = whole
        if shape in ("keys", "incremental"):  # absence is left alone
            expected = [c for c in whole if c[0] != "delete"]
        assert [c.split(" ")[:2] for c in shown(planned)] == expected, shape
