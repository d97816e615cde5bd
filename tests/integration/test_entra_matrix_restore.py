"""A user deleted from Entra ID by a run (soft delete: deleted items keep it) and back in
the source: the run that sees it again — whole or scoped to its key — restores it (its id
kept) into the groups the source names, each batch applied twice; a run after it plans
nothing."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from schemas.connections import SqliteConnection
from schemas.jobs import Job
from tests.graph_server import Tenant

from .entra_helpers import connection as entra_connection
from .test_scim_matrix_redelivered import apply_twice, people, the_job
from .test_scoped_reads import plan_between
from .test_sql_matrix_typed import shown


@pytest.mark.parametrize("shape", ["whole", "keys"])
async def test_a_user_deleted_then_back_is_restored_into_its_groups(
    graph_tenant: Tenant, tmp_path: Path, shape: str
) -> None:
    target = entra_connection(tmp_path, graph_tenant, id="dst")
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    job = the_job("entra")
    d = graph_tenant.domain

    def p(n: int) -> str:
        return f"p{n}@{d}"

    def members() -> dict[str, list[str]]:
        objects = graph_tenant.objects()
        names = {u["id"]: u["userPrincipalName"] for u in objects["user"]}
        return {
            g["displayName"]: sorted(names[m] for m in g.get("_members", []))
            for g in objects["group"]
        }

    everyone = [(p(1), "One", ""), (p(2), "Two", p(1))]
    people(tmp_path, everyone, [("team", f"{p(1)}|{p(2)}")])
    await apply_twice(source, target, job, await plan_between(source, target, job, None))
    before = graph_tenant.users()[p(2)]["id"]
    assert members() == {"team": [p(1), p(2)]}

    # p2 leaves: deleted (users' on_destination_only), out of the team
    people(tmp_path, everyone[:1], [("team", p(1))])
    gone = await plan_between(source, target, _deleting(job), None)
    assert [c.split(" ")[:2] for c in shown(gone)] == [["delete", p(2)], ["update", "team"]]
    await apply_twice(source, target, _deleting(job), gone)
    assert p(2) not in graph_tenant.users()

    # and back, in the team again
    people(tmp_path, everyone, [("team", f"{p(1)}|{p(2)}")])
    keys = [p(2), "team"] if shape == "keys" else None
    back = await plan_between(source, target, _deleting(job), keys)
    assert [c.split(" ")[:2] for c in shown(back)] == [["create", p(2)], ["update", "team"]]
    await apply_twice(source, target, _deleting(job), back)
    assert graph_tenant.users()[p(2)]["id"] == before, "restored, not made anew"
    assert members() == {"team": [p(1), p(2)]}
    assert shown(await plan_between(source, target, _deleting(job), None)) == []


def _deleting(job: Job) -> Job:
    users = msgspec.structs.replace(job.objects[0], on_destination_only="delete")
    return msgspec.structs.replace(job, objects=[users, *job.objects[1:]])
