"""`idsync job preview` counts the records that failed beside the plan's counts, says
how many more failed than it lists, and says a record skipped on purpose as skipped."""

from __future__ import annotations

from typing import cast

from core.engine import TypeRecords
from core.engine.plan import Plan
from schemas.jobs import Endpoint, Job, ObjectMapping
from schemas.plan import PlanCounts, RecordError
from services.cli.preview import preview_text
from services.common.store import Store
from services.runner.planning import PlannedRun

JOB = Job(
    id="dir-to-csv",
    source=Endpoint(connection="dir", container="ou=People,dc=example,dc=com"),
    destination=Endpoint(connection="files", file="people.csv"),
    objects=[ObjectMapping(keys=["uid"])],
)


def planned(errors: list[RecordError]) -> PlannedRun:
    plan = Plan(changes=[], counts=PlanCounts(create=0, skipped=1), hash="0" * 64)
    types = [TypeRecords("user", 150, 0)]
    return PlannedRun(
        plan=plan, source_records=150, destination_records=0, record_errors=errors, types=types
    )


def failure(key: str) -> RecordError:
    return RecordError(key=key, action="map", message="name: 2 values of cn")


async def lines(run: PlannedRun, limit: int) -> list[str]:
    return (await preview_text(cast(Store, None), JOB, run, limit)).splitlines()


async def test_the_counts_say_how_many_records_failed() -> None:
    said = await lines(planned([failure("bjensen")]), 20)
    assert said[1].endswith("1 skipped, 1 failed — plan 000000000000")
    assert said[2] == "  failed  bjensen: name: 2 values of cn"


async def test_failures_beyond_the_limit_are_counted() -> None:
    said = await lines(planned([failure(f"p{n}") for n in range(25)]), 20)
    assert ", 25 failed — plan" in said[1]
    assert sum(line.startswith("  failed  ") for line in said) == 20
    assert said[-1] == "  … and 5 more records failed or skipped (--json lists them all)"


async def test_a_record_skipped_on_purpose_is_no_failure() -> None:
    skipped = RecordError(
        key="g1", action="resolve", message="no member resolves", object_type="group", skipped=True
    )
    said = await lines(planned([skipped]), 20)
    assert "failed" not in said[1]
    assert said[2] == "  skipped  g1: no member resolves"
