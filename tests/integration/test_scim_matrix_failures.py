"""A record that fails holds its SCIM user, whatever the shape of the job (in memory,
lean, spilled, scoped to keys, incremental, a `where`, keys compared without case) and
however the source spells its key (another case than the service's userName): a failure
never looks like absence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.connections import ScimConnection, SecretRef, SqliteConnection
from schemas.jobs import Changes, Endpoint, FieldMap, Job, ObjectMapping, Safety
from services.runner.planning import PlannedRun
from services.runner.planning.reading import Reading
from tests.scim_server import TOKEN, client

from .test_scoped_reads import plan_between, table
from .test_sql_matrix_typed import SHAPES, shaped, shown


def the_job(action: str, where: Any = None, **more: Any) -> Job:
    return Job(
        id="held",
        source=Endpoint(connection="hr", table="hr", where=where),
        destination=Endpoint(connection="scim"),
        objects=[
            ObjectMapping(
                keys=["userName"],
                fields=[
                    FieldMap(to="userName", from_="id"),
                    FieldMap(to="title", from_="dept", transform={"map": {"Sales": "S"}}),
                ],
                on_destination_only=action,  # type: ignore[arg-type]
                **more,
            )
        ],
        changes=Changes(field="modified"),
        safety=Safety(max_percent=100),
    )


async def plans(
    source: SqliteConnection, target: ScimConnection, action: str, keys: list[str]
) -> dict[str, PlannedRun]:
    found = {}
    for shape in SHAPES:
        with shaped(shape):
            found[shape] = await plan_between(source, target, the_job(action), None)
    found["keys"] = await plan_between(source, target, the_job(action), keys)
    found["incremental"] = await plan_between(
        source, target, the_job(action), None, Reading(incremental=True, since="2026-01-01")
    )
    found["where"] = await plan_between(
        source, target, the_job(action, {"not": {"field": "id", "equals": "x"}}), None
    )
    found["no case"] = await plan_between(
        source, target, the_job(action, case_insensitive=True), None
    )
    return found


@pytest.mark.parametrize("action", ["delete", "disable"])
async def test_a_record_that_fails_holds_its_user_in_every_shape(
    scim_url: str, tmp_path: Path, action: str
) -> None:
    with client(scim_url) as http:
        for name in ("Ada", "grace"):
            body = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": name,
                "title": "S",
            }
            assert http.post("/Users", json=body).status_code == 201
    # Ada's record fails (no such department in the map), spelled in upper case.
    rows = [("ADA", "Nowhere", "2026-02-01"), ("grace", "Sales", "2026-02-01")]
    table(tmp_path / "hr.db", "hr", ["id", "dept", "modified"], rows)
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    (tmp_path / "token").write_text(TOKEN + "\n")
    target = ScimConnection(id="scim", url=scim_url, token=SecretRef(file=str(tmp_path / "token")))
    for shape, planned in (await plans(source, target, action, ["ADA", "grace"])).items():
        assert shown(planned) == [], (shape, shown(planned))
        assert [e.key for e in planned.record_errors] == ["ADA"], shape
