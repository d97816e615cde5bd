"""Whether a plan waits for approval does not depend on how it was planned: in memory or
in little memory, with its objects looked up or read whole, in every shape of run (full,
incremental, scoped to keys) and every way a job takes objects away or brings them back.

Each drawn case plans the same tables as a run does and the plain way (every shortcut
off: both sides read whole, in memory), and judges both plans against tight limits as
the runner judges them (services/runner/run.py)."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.engine import assess_types
from core.engine.lifecycle import Lifecycle
from schemas.jobs import Job, Leavers, ObjectMapping, Safety
from services.runner.planning import PlannedRun
from services.runner.planning.reading import Reading

from .test_fast_path_mixes import (
    GROUPS,
    NOW,
    SHAPES,
    USERS,
    folder_of,
    group_tables,
    job,
    lean_if,
    looked_up_alike,
    mappings,
    messy_tables,
    plain,
    plan,
    reading_of,
    spelled_once,
)
from .test_scoped_reads import table

TIGHT = [
    Safety(max_percent=10, min_count=0),
    Safety(max_percent=50, min_count=1, max_count=2),
    Safety(max_percent=100, min_count=0, max_count=1, empty_source="allow"),
]


def judged(planned: PlannedRun, safety: Safety, keys: list[str] | None) -> str | None:
    return assess_types(
        planned.plan,
        planned.types,
        safety,
        full_scope=keys is None and not planned.incremental,
    )


async def judged_both_ways(
    folder: Path, the_job: Job, keys: list[str] | None, reading: Any, lean: bool
) -> tuple[Any, Any]:
    async def judgement() -> Any:
        try:
            planned = await plan(folder, the_job, keys, reading)
        except Exception as error:  # the same refusal both ways
            return type(error).__name__
        return judged(planned, the_job.safety, keys), planned.plan.counts

    with lean_if(lean):
        quick = await judgement()
    with plain():
        slow = await judgement()
    return quick, slow


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(messy_tables(), st.sampled_from(list(SHAPES)), mappings(), st.sampled_from(TIGHT))
def test_a_plan_waits_for_approval_however_it_was_planned(
    drawn: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]],
    shape: str,
    mapping: ObjectMapping,
    safety: Safety,
) -> None:
    people, directory = drawn
    incremental, lean, keys = SHAPES[shape]
    if incremental or keys:  # what a lookup is known not to see (the mixes say which)
        directory = looked_up_alike(directory, "name" in mapping.keys)
    if keys:
        people = spelled_once(people)
    with tempfile.TemporaryDirectory() as folder:
        where = folder_of(Path(folder), people, directory)
        the_job = msgspec.structs.replace(job(mapping, changes=True), safety=safety)
        reading = reading_of(mapping, incremental)
        quick, slow = asyncio.run(judged_both_ways(where, the_job, keys, reading, lean))
    assert quick == slow


WAYS_OUT: dict[str, dict[str, Any]] = {
    "delete": {"on_destination_only": "delete"},
    "disable": {"on_destination_only": "disable", "restore": True, "delete_after": "30d"},
    "move": {"on_destination_only": "move", "move_to": "ou=gone", "restore": True},
    "leavers": {
        "on_destination_only": "skip",
        "leavers": Leavers(when={"field": "changed", "equals": 1}, action="move", move_to="x"),
    },
    "skip": {"on_destination_only": "skip"},
}


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    messy_tables(),
    group_tables(),
    st.sampled_from(["full", "incremental", "scoped"]),
    st.sampled_from(list(WAYS_OUT)),
    st.sampled_from(list(WAYS_OUT)),
    st.sampled_from(TIGHT),
)
def test_a_plan_of_several_types_waits_for_approval_however_it_was_planned(
    drawn: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]],
    drawn_groups: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]],
    shape: str,
    users_way: str,
    groups_way: str,
    safety: Safety,
) -> None:
    people, directory = drawn
    groups, group_directory = drawn_groups
    keys = ["e1", "g1"] if shape == "scoped" else None
    if shape != "full":
        directory, group_directory = looked_up_alike(directory), looked_up_alike(group_directory)
    if keys:
        people, groups = spelled_once(people), spelled_once(groups)
    users = msgspec.structs.replace(USERS, **WAYS_OUT[users_way])
    owned = msgspec.structs.replace(GROUPS, **WAYS_OUT[groups_way])
    incremental = shape == "incremental"
    since = '{"group": "2", "user": "2"}' if incremental else None
    absent = {key: datetime(2026, 5, 1, tzinfo=UTC) for key in ("e2", "e20", "g1", "g2")}
    lifecycles = {kind: Lifecycle(absent_since=absent, now=NOW) for kind in ("user", "group")}
    reading = Reading(incremental=incremental, since=since, lifecycles=lifecycles)
    the_job = msgspec.structs.replace(job(users, owned, changes=True), safety=safety)
    with tempfile.TemporaryDirectory() as folder:
        where = folder_of(Path(folder), people, directory)
        table(where / "hr.db", "hr_groups", ["gid", "title", "members", "changed"], groups)
        table(where / "dir.db", "groups", ["id", "title", "members"], group_directory)
        quick, slow = asyncio.run(judged_both_ways(where, the_job, keys, reading, False))
    assert quick == slow
