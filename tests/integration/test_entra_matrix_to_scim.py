"""Entra ID's users and groups (the tests' Graph) into a SCIM service (scim2-server),
members named by userPrincipalName and resolved by userName: planned in process whole,
scoped to keys and incremental (Graph's delta links, one per type) — the same changes —
and applied in the run's order, each batch twice; a run after it plans nothing in any
shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from schemas.connections import ScimConnection, SecretRef
from schemas.jobs import (
    Changes,
    Endpoint,
    FieldMap,
    Job,
    ObjectMapping,
    ObjectScope,
    Resolve,
    Safety,
)
from services.runner.planning import PlannedRun
from services.runner.planning.reading import Reading
from tests.graph_server import Tenant
from tests.scim_server import TOKEN, resources

from .entra_helpers import connection, user
from .test_scim_matrix_redelivered import apply_twice
from .test_scoped_reads import plan_between
from .test_sql_matrix_typed import shown


def the_job() -> Job:
    by = Resolve(type="user", by="userName")
    return Job(
        id="entra-to-scim",
        source=Endpoint(connection="cloud"),
        destination=Endpoint(connection="scim"),
        objects=[
            ObjectMapping(
                type="user",
                keys=["userName"],
                fields=[
                    FieldMap(to="userName", from_="userPrincipalName"),
                    FieldMap(to="displayName"),
                    FieldMap(to="active", from_="accountEnabled"),
                ],
                on_destination_only="disable",
            ),
            ObjectMapping(
                type="group",
                keys=["displayName"],
                source=ObjectScope(object_classes=["group"]),
                destination=ObjectScope(object_classes=["Group"]),
                fields=[
                    FieldMap(to="displayName"),
                    FieldMap(to="members", delimiter="|", resolve=by),
                ],
                on_destination_only="delete",
            ),
        ],
        changes=Changes(),
        safety=Safety(max_percent=100),
    )


async def plans(
    source: Any, target: ScimConnection, keys: list[str], mark: str | None
) -> dict[str, PlannedRun]:
    found = {"whole": await plan_between(source, target, the_job(), None)}
    found["keys"] = await plan_between(source, target, the_job(), keys)
    if mark is not None:
        found["incremental"] = await plan_between(
            source, target, the_job(), None, Reading(incremental=True, since=mark)
        )
    return found


async def test_entra_users_and_groups_into_scim(
    graph_tenant: Tenant, scim_url: str, tmp_path: Path
) -> None:
    made = {key: user(graph_tenant, key) for key in ("E1", "E2", "E3")}
    team = graph_tenant.graph(
        "POST",
        "groups",
        {
            "displayName": "team",
            "mailEnabled": False,
            "mailNickname": "team",
            "securityEnabled": True,
            "members@odata.bind": [
                f"https://graph.microsoft.com/v1.0/users/{made[k]['id']}" for k in ("E1", "E2")
            ],
        },
    )
    source = connection(tmp_path, graph_tenant)
    (tmp_path / "token").write_text(TOKEN + "\n")
    target = ScimConnection(id="scim", url=scim_url, token=SecretRef(file=str(tmp_path / "token")))
    d = graph_tenant.domain
    upns = [f"e{n}@{d}" for n in (1, 2, 3)]

    def members() -> dict[str, list[str]]:
        names = {u["id"]: u["userName"] for u in resources(scim_url)}
        return {
            g["displayName"]: sorted(names[m["value"]] for m in g.get("members", []))
            for g in resources(scim_url, "/Groups")
        }

    first = await plan_between(source, target, the_job(), None)
    assert not first.record_errors, first.record_errors
    await apply_twice(source, target, the_job(), first)
    assert members() == {"team": upns[:2]}
    mark = first.watermark
    assert mark is not None and mark.startswith("{"), mark
    for shape, planned in (await plans(source, target, [*upns, "team"], mark)).items():
        assert shown(planned) == [], (shape, shown(planned))

    # E3 joins the team, E1 leaves it; E2 is disabled
    base = "https://graph.microsoft.com/v1.0/users"
    graph_tenant.graph(
        "PATCH", f"groups/{team['id']}", {"members@odata.bind": [f"{base}/{made['E3']['id']}"]}
    )
    graph_tenant.graph("DELETE", f"groups/{team['id']}/members/{made['E1']['id']}/$ref")
    graph_tenant.graph("PATCH", f"users/{made['E2']['id']}", {"accountEnabled": False})
    changed = await plans(source, target, [upns[1], "team"], mark)
    for shape, planned in changed.items():
        assert shown(planned) == shown(changed["whole"]), shape
    await apply_twice(source, target, the_job(), changed["whole"])
    assert members() == {"team": upns[1:]}
    assert {u["userName"]: u["active"] for u in resources(scim_url)}[upns[1]] is False
    again = await plans(source, target, [*upns, "team"], changed["whole"].watermark)
    for shape, planned in again.items():
        assert shown(planned) == [], (shape, shown(planned))
