"""Whether a plan waits for approval does not depend on how it was planned: in memory or
in little memory, with its objects looked up or read whole, in every shape of run (full,
incremental, scoped to keys) and every way a job takes objects away or brings them back.

Each drawn case plans the same tables as a run does and the plain way (every shortcut
off: both sides read whole, in memory), and judges both plans against tight limits as
the runner judges them (services/runner/run.py)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.engine import assess_types
from schemas.jobs import Job, ObjectMapping, Safety
from services.runner.planning import PlannedRun

from .test_fast_path_mixes import (
    SHAPES,
    folder_of,
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
