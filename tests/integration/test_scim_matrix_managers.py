"""Users naming their managers (`resolve` within one object type) into a SCIM service
(scim2-server) and Entra ID (the tests' Graph), planned in every shape — in memory, lean,
spilled, scoped to keys, incremental, a `where`, keys without case — the same plan; then
applied in the run's order: a run after it plans nothing in any shape, and a new manager
is written alike by each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.connections import Connection, ScimConnection, SecretRef, SqliteConnection
from schemas.jobs import Changes, Endpoint, FieldMap, Job, ObjectMapping, Resolve, Safety
from services.runner.planning import PlannedRun
from services.runner.planning.reading import Reading
from tests.graph_server import Tenant
from tests.scim_server import TOKEN

from .entra_helpers import connection as entra_connection
from .test_scim_matrix_redelivered import apply_twice
from .test_scoped_reads import plan_between, table
from .test_sql_matrix_typed import SHAPES, shaped, shown

SCIM_MANAGER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"


def the_job(provider: str, where: Any = None, **more: Any) -> Job:
    key = "userName" if provider == "scim" else "userPrincipalName"
    manager = SCIM_MANAGER if provider == "scim" else "manager"
    return Job(
        id="managers",
        source=Endpoint(connection="hr", table="people", where=where),
        destination=Endpoint(connection="dst"),
        objects=[
            ObjectMapping(
                keys=[key],
                fields=[
                    FieldMap(to=key, from_="id"),
                    FieldMap(to="displayName", from_="name"),
                    FieldMap(to=manager, from_="boss", resolve=Resolve(type="user", by=key)),
                ],
                on_destination_only="delete",
                **more,
            )
        ],
        changes=Changes(field="at"),
        safety=Safety(max_percent=100),
    )


async def plans(
    source: Connection, target: Connection, provider: str, keys: list[str]
) -> dict[str, PlannedRun]:
    found = {}
    for shape in SHAPES:
        with shaped(shape):
            found[shape] = await plan_between(source, target, the_job(provider), None)
    found["keys"] = await plan_between(source, target, the_job(provider), keys)
    found["incremental"] = await plan_between(
        source, target, the_job(provider), None, Reading(incremental=True, since="2026-01-15")
    )
    found["where"] = await plan_between(
        source, target, the_job(provider, {"not": {"field": "id", "equals": "x"}}), None
    )
    found["no case"] = await plan_between(
        source, target, the_job(provider, case_insensitive=True), None
    )
    return found


@pytest.mark.parametrize("provider", ["scim", "entra"])
async def test_managers_in_every_shape(
    provider: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if provider == "scim":
        url: str = request.getfixturevalue("scim_url")
        (tmp_path / "token").write_text(TOKEN + "\n")
        target: Connection = ScimConnection(
            id="dst", url=url, token=SecretRef(file=str(tmp_path / "token"))
        )
        suffix = ""
    else:
        tenant: Tenant = request.getfixturevalue("graph_tenant")
        target = entra_connection(tmp_path, tenant, id="dst")
        suffix = f"@{tenant.domain}"

    def p(n: int) -> str:
        return f"p{n}{suffix}"

    def write(rows: list[tuple[str, str, str, str]]) -> None:
        (tmp_path / "hr.db").unlink(missing_ok=True)
        table(tmp_path / "hr.db", "people", ["id", "name", "boss", "at"], rows)

    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    old, new = "2026-01-01", "2026-02-01"
    write([(p(1), "One", "", new), (p(2), "Two", p(1), new), (p(3), "Three", p(2), new)])
    everyone = [p(1), p(2), p(3), p(4)]
    first = await plans(source, target, provider, everyone)
    for shape, planned in first.items():
        assert shown(planned) == shown(first["memory"]), shape
    await apply_twice(source, target, the_job(provider), first["memory"])
    write([(p(1), "One", "", old), (p(2), "Two", p(1), old), (p(3), "Three", p(2), old)])
    for shape, planned in (await plans(source, target, provider, everyone)).items():
        assert shown(planned) == [], (shape, shown(planned))

    # p4 is new, and now p3's manager; p2's manager leaves it blank
    write(
        [
            (p(1), "One", "", old),
            (p(2), "Two", "", new),
            (p(3), "Three", p(4), new),
            (p(4), "Four", p(1), new),
        ]
    )
    changed = await plans(source, target, provider, everyone)
    for shape, planned in changed.items():
        assert shown(planned) == shown(changed["memory"]), shape
    await apply_twice(source, target, the_job(provider), changed["memory"])
    write(
        [
            (p(1), "One", "", old),
            (p(2), "Two", "", old),
            (p(3), "Three", p(4), old),
            (p(4), "Four", p(1), old),
        ]
    )
    for shape, planned in (await plans(source, target, provider, everyone)).items():
        assert shown(planned) == [], (shape, shown(planned))
