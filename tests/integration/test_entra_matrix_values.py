"""A SQLite table of people into Entra ID (the tests' Graph), planned in process in every
shape — in memory, lean, spilled, scoped to keys, with a `where`, keys compared without
case — then applied: a run after it plans nothing in any shape, whatever the value
(booleans however spelled, dates, multi-valued properties in another order)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.checks.job import check_job
from core.errors import BadInput
from schemas.connections import Connection, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Safety
from services.providers import FACTS
from services.runner.planning import PlannedRun
from tests.graph_server import Tenant

from .entra_helpers import connection
from .test_scoped_reads import applied, plan_between, table
from .test_sql_matrix_typed import SHAPES, shaped, shown


def the_job(where: Any = None, fields: list[FieldMap] | None = None, **more: Any) -> Job:
    return Job(
        id="to-entra",
        source=Endpoint(connection="hr", table="hr", where=where),
        destination=Endpoint(connection="cloud"),
        objects=[
            ObjectMapping(
                keys=["employeeId"],
                fields=fields
                or [
                    FieldMap(to="employeeId", from_="id"),
                    FieldMap(to="userPrincipalName", from_="upn"),
                    FieldMap(to="displayName", from_="name"),
                    FieldMap(to="accountEnabled", from_="enabled"),
                    FieldMap(to="employeeHireDate", from_="hired"),
                    FieldMap(to="businessPhones", from_="phones", delimiter="|"),
                    FieldMap(to="otherMails", from_="mails", delimiter="|"),
                    FieldMap(to="onPremisesExtensionAttributes.extensionAttribute1", from_="x1"),
                ],
                on_destination_only="disable",
                **more,
            )
        ],
        safety=Safety(max_percent=100),
    )


async def plans(source: SqliteConnection, target: Any, keys: list[str]) -> dict[str, PlannedRun]:
    found = {}
    for shape in SHAPES:
        with shaped(shape):
            found[shape] = await plan_between(source, target, the_job(), None)
    found["keys"] = await plan_between(source, target, the_job(), keys)
    found["where"] = await plan_between(
        source, target, the_job({"not": {"field": "id", "equals": "nobody"}}), None
    )
    found["no case"] = await plan_between(source, target, the_job(case_insensitive=True), None)
    return found


async def test_people_into_entra_then_nothing_in_every_shape(
    graph_tenant: Tenant, tmp_path: Path
) -> None:
    domain = graph_tenant.domain
    rows = [
        (
            "E1",
            f"e1@{domain}",
            "Ada",
            "TRUE",
            "2024-03-01",
            "+1 555|+1 444",
            "b@x.org|a@x.org",
            "1",
        ),
        ("E2", f"E2@{domain}", "Grace", "no", "2024-03-01T10:00:00+02:00", "", "", ""),
        ("e3", f"e3@{domain}", "Alan", "1", "", "+44 1", "c@x.org", "x"),
    ]
    columns = ["id", "upn", "name", "enabled", "hired", "phones", "mails", "x1"]
    table(tmp_path / "hr.db", "hr", columns, rows)
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    target = connection(tmp_path, graph_tenant)
    keys = ["E1", "E2", "e3"]
    first = await plans(source, target, keys)
    memory = shown(first["memory"])
    assert [c.split(" ")[:2] for c in memory] == [["create", k] for k in keys], memory
    for shape, planned in first.items():
        assert shown(planned) == memory, shape
    outcomes, _ = await applied(source, target, the_job(), first["memory"].plan.changes)
    assert [o.error for o in outcomes] == [None] * 3
    users = graph_tenant.users("employeeId")
    assert users["E2"]["accountEnabled"] is False
    again = await plans(source, target, keys)
    for shape, planned in again.items():
        assert shown(planned) == [], shape


@pytest.mark.parametrize(
    ("kind", "field"),
    [("user", "proxyAddresses"), ("user", "imAddresses"), ("group", "mail")],
)
def test_a_property_graph_never_writes_is_refused_when_the_job_is_applied(
    graph_tenant: Tenant, tmp_path: Path, kind: str, field: str
) -> None:
    """Graph sets these itself (Exchange, from the mail): mapped into Entra, the create
    left the property out, then every run planned the same update and Graph refused it
    (400 "Property 'proxyAddresses' is read-only"), a failed record on every run."""
    key = "employeeId" if kind == "user" else "displayName"
    fields = [FieldMap(to="displayName", from_="name")]
    if kind == "user":
        fields += [FieldMap(to=key, from_="id"), FieldMap(to="userPrincipalName", from_="upn")]
    fields.append(FieldMap(to=field, from_="px"))
    job = Job(
        id="to-entra",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="cloud", object_classes=[kind]),
        objects=[ObjectMapping(type=kind, keys=[key], fields=fields)],
    )
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    connections: dict[str, Connection] = {"hr": source, "cloud": connection(tmp_path, graph_tenant)}
    with pytest.raises(BadInput) as refused:
        check_job(job, connections, FACTS)
    said = str(refused.value)
    assert f"$.objects[0].fields[{len(fields) - 1}].to" in said, said
    assert f"{field!r}" in said and "read-only" in said, said
