"""Batches applied twice (a runner died before acknowledging them) to a SCIM service
(scim2-server) and to Entra ID (the tests' Graph): users and their groups — created,
members added and removed, a manager set — are written once: no second user or group,
no member twice, and a run after it plans nothing."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path
from typing import Any

import pytest

from core.engine.batching import split_batches
from schemas.connections import Connection, ScimConnection, SecretRef, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, ObjectScope, Resolve, Safety
from services.runner.planning import PlannedRun
from services.runner.planning.sides import open_pair
from tests.graph_server import Tenant
from tests.scim_server import TOKEN, resources

from .entra_helpers import connection as entra_connection
from .test_scoped_reads import plan_between, table
from .test_sql_matrix_typed import shown


def the_job(provider: str) -> Job:
    if provider == "scim":
        user_key, manager, group_kind = "userName", None, ["Group"]
        by = "userName"
    else:
        user_key, manager, group_kind = "userPrincipalName", "manager", ["group"]
        by = "userPrincipalName"
    user_fields = [FieldMap(to=user_key, from_="id"), FieldMap(to="displayName", from_="name")]
    if manager is not None:
        user_fields.append(FieldMap(to=manager, from_="boss", resolve=Resolve(type="user", by=by)))
    else:
        user_fields.append(
            FieldMap(
                to="urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                from_="boss",
                resolve=Resolve(type="user", by=by),
            )
        )
    return Job(
        id="twice",
        source=Endpoint(connection="hr", table="people"),
        destination=Endpoint(connection="dst"),
        objects=[
            ObjectMapping(type="user", keys=[user_key], fields=user_fields),
            ObjectMapping(
                type="group",
                keys=["displayName"],
                source=ObjectScope(table="groups"),
                destination=ObjectScope(object_classes=group_kind),
                fields=[
                    FieldMap(to="displayName", from_="name"),
                    FieldMap(
                        to="members",
                        from_="members",
                        delimiter="|",
                        resolve=Resolve(type="user", by=by),
                    ),
                ],
                on_destination_only="delete",
            ),
        ],
        safety=Safety(max_percent=100),
    )


async def apply_twice(source: Connection, target: Connection, job: Job, plan: PlannedRun) -> None:
    """The plan's batches as a run makes them (one phase and one type each), in order,
    each applied twice."""
    at_of = {mapping.type: at for at, mapping in enumerate(job.objects)}
    for batch in split_batches(plan.plan.changes, 1000, 1 << 20):
        for kind, changes in groupby(batch, key=lambda c: c.object_type):
            some = list(changes)
            for _ in range(2):
                _, side = open_pair(source, target, job, at_of[kind])
                await side.open(write=True)
                try:
                    outcomes = await side.apply(some)
                finally:
                    await side.close()
                assert [o.error for o in outcomes] == [None] * len(some), outcomes


def people(folder: Path, rows: list[tuple[str, str, str]], groups: list[tuple[str, str]]) -> None:
    for name in ("hr.db",):
        (folder / name).unlink(missing_ok=True)
    table(folder / "hr.db", "people", ["id", "name", "boss"], rows)
    table(folder / "hr.db", "groups", ["name", "members"], groups)


@pytest.mark.parametrize("provider", ["scim", "entra"])
async def test_batches_applied_twice_write_once(
    provider: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if provider == "scim":
        url: str = request.getfixturevalue("scim_url")
        (tmp_path / "token").write_text(TOKEN + "\n")
        target: Connection = ScimConnection(
            id="dst", url=url, token=SecretRef(file=str(tmp_path / "token"))
        )

        def ids(n: int) -> str:
            return f"p{n}"

        def state() -> dict[str, Any]:
            users = resources(url)
            names = {u["id"]: u["userName"] for u in users}
            groups = resources(url, "/Groups")
            return {
                "users": sorted(u["userName"] for u in users),
                "groups": {
                    g["displayName"]: sorted(names[m["value"]] for m in g.get("members", []))
                    for g in groups
                },
                "group names": sorted(g["displayName"] for g in groups),
            }
    else:
        tenant: Tenant = request.getfixturevalue("graph_tenant")
        target = entra_connection(tmp_path, tenant, id="dst")

        def ids(n: int) -> str:
            return f"p{n}@{tenant.domain}"

        def state() -> dict[str, Any]:
            objects = tenant.objects()
            names = {u["id"]: u["userPrincipalName"] for u in objects["user"]}
            groups = objects["group"]
            return {
                "users": sorted(names.values()),
                "groups": {
                    g["displayName"]: sorted(names[m] for m in g.get("_members", []))
                    for g in groups
                },
                "group names": sorted(g["displayName"] for g in groups),
            }

    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    job = the_job(provider)
    people(
        tmp_path,
        [(ids(1), "One", ""), (ids(2), "Two", ids(1)), (ids(3), "Three", ids(1))],
        [("team", f"{ids(1)}|{ids(2)}"), ("all", f"{ids(1)}|{ids(2)}|{ids(3)}")],
    )
    first = await plan_between(source, target, job, None)
    await apply_twice(source, target, job, first)
    assert state() == {
        "users": [ids(1), ids(2), ids(3)],
        "groups": {"team": [ids(1), ids(2)], "all": [ids(1), ids(2), ids(3)]},
        "group names": ["all", "team"],
    }
    assert shown(await plan_between(source, target, job, None)) == []

    # p3 joins the team, p2 leaves it; p4 is new, in "all", managed by p3
    people(
        tmp_path,
        [
            (ids(1), "One", ""),
            (ids(2), "Two", ids(3)),
            (ids(3), "Three", ids(1)),
            (ids(4), "Four", ids(3)),
        ],
        [("team", f"{ids(1)}|{ids(3)}"), ("all", f"{ids(1)}|{ids(2)}|{ids(3)}|{ids(4)}")],
    )
    changed = await plan_between(source, target, job, None)
    await apply_twice(source, target, job, changed)
    assert state() == {
        "users": [ids(1), ids(2), ids(3), ids(4)],
        "groups": {"team": [ids(1), ids(3)], "all": [ids(1), ids(2), ids(3), ids(4)]},
        "group names": ["all", "team"],
    }
    assert shown(await plan_between(source, target, job, None)) == []
