"""A `where` on Entra ID properties the job does not map (accountEnabled, department, a
complex property's part): each is read for it, in every shape — in memory, lean,
spilled, scoped to keys, incremental — so the records out of scope are exactly those the
condition leaves out, and nothing else looks absent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.connections import SqliteConnection
from schemas.jobs import Changes, Endpoint, FieldMap, Job, ObjectMapping, Safety
from services.runner.planning.reading import Reading
from tests.graph_server import Tenant

from .entra_helpers import connection, user
from .test_scoped_reads import plan_between, table
from .test_sql_matrix_typed import SHAPES, shaped, shown

WHERES: dict[str, Any] = {
    "boolean": {"field": "accountEnabled", "equals": "true"},
    "text": {"field": "department", "equals": "Sales"},
    "part": {"field": "employeeOrgData.costCenter", "equals": "C1"},
}


def the_job(where: Any) -> Job:
    return Job(
        id="where",
        source=Endpoint(connection="cloud", where=where),
        destination=Endpoint(connection="db", table="people"),
        objects=[
            ObjectMapping(
                keys=["id"],
                fields=[
                    FieldMap(to="id", from_="employeeId"),
                    FieldMap(to="name", from_="displayName"),
                ],
                on_destination_only="delete",
            )
        ],
        changes=Changes(),
        safety=Safety(max_percent=100),
    )


@pytest.mark.parametrize("where", list(WHERES))
async def test_a_where_on_properties_not_mapped(
    graph_tenant: Tenant, tmp_path: Path, where: str
) -> None:
    user(graph_tenant, "E1", department="Sales", employeeOrgData={"costCenter": "C1"})
    user(
        graph_tenant,
        "E2",
        accountEnabled=False,
        department="Research",
        employeeOrgData={"costCenter": "C2"},
    )
    table(tmp_path / "db.sqlite", "people", ["id", "name"], [("E1", "User E1"), ("E2", "User E2")])
    source = connection(tmp_path, graph_tenant)
    target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))
    job = the_job(WHERES[where])
    planned = {}
    for shape in SHAPES:
        with shaped(shape):
            planned[shape] = await plan_between(source, target, job, None)
    mark = planned["memory"].watermark
    planned["keys"] = await plan_between(source, target, job, ["E1", "E2"])
    planned["incremental"] = await plan_between(
        source, target, job, None, Reading(incremental=True, since=mark)
    )
    for shape, plan in planned.items():
        expected = [] if shape in ("keys", "incremental") else ["delete E2 [] []"]
        assert shown(plan) == expected, (shape, shown(plan))
