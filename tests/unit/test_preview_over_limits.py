"""`idsync job preview` says when a run of the plan would wait for approval (the safety
limits, an empty source) instead of letting the run be the first to tell."""

from __future__ import annotations

from typing import cast

import msgspec

from core.engine import TypeRecords
from core.engine.plan import Plan
from schemas.jobs import Endpoint, Job, ObjectMapping
from schemas.plan import Change, PlanCounts
from services.cli.preview import preview_text
from services.common.store import Store
from services.runner.planning import PlannedRun

JOB = Job(
    id="hr",
    source=Endpoint(connection="files", file="hr.csv"),
    destination=Endpoint(connection="db", table="people"),
    objects=[ObjectMapping(keys=["id"], on_destination_only="delete")],
)


def planned(source_records: int, deletes: int) -> PlannedRun:
    changes = [Change(action="delete", key=f"p{n}", match={"id": f"p{n}"}) for n in range(deletes)]
    plan = Plan(changes=changes, counts=PlanCounts(delete=deletes), hash="0" * 64)
    types = [TypeRecords("user", source_records, 8)]
    return PlannedRun(plan=plan, source_records=source_records, destination_records=8, types=types)


async def lines(job: Job, run: PlannedRun, keys: list[str] | None = None) -> list[str]:
    # limit=0: no change line, so the destination is not read for the deleted objects
    text = await preview_text(cast(Store, None), job, run, 0, keys)
    return text.splitlines()


async def test_deletes_over_the_limit_say_the_run_waits_and_why() -> None:
    said = await lines(JOB, planned(source_records=3, deletes=5))
    assert said[2] == (
        "  over the safety limits, a run of this plan waits for approval: "
        "5 deletes exceed the limit of 3 (the job's safety.min_count)"
    )


async def test_an_empty_source_says_the_run_waits() -> None:
    said = await lines(JOB, planned(source_records=0, deletes=0))
    assert said[2] == (
        "  over the safety limits, a run of this plan waits for approval: "
        "the source returned no records while the destination holds 8 objects"
    )


async def test_a_staging_job_writes_nothing_and_waits_for_nobody() -> None:
    said = await lines(
        msgspec.structs.replace(JOB, staging=True), planned(source_records=0, deletes=5)
    )
    assert not any("approval" in line for line in said)
