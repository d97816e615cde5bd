"""A run's record errors in parts and folded back (core/record_errors.py)."""

from __future__ import annotations

from core.record_errors import (
    MAX_ERROR_BYTES,
    MAX_ERRORS_PER_EVENT,
    MAX_MESSAGE,
    RunErrors,
    in_parts,
)
from schemas.events import Event, RunBatchApplied, RunPlanned, RunRecordErrors
from schemas.plan import PlanCounts, RecordError, RunStats


def errors(count: int, prefix: str = "E", message: str = "no") -> list[RecordError]:
    return [RecordError(key=f"{prefix}{n}", action="map", message=message) for n in range(count)]


def planned(plan_hash: str, found: list[RecordError]) -> RunPlanned:
    return RunPlanned(
        run_id="r",
        job_id="j",
        plan_hash=plan_hash,
        counts=PlanCounts(),
        source_records=0,
        destination_records=0,
        batches=1,
        errors=found,
    )


def parts_of(plan_hash: str, found: list[RecordError], batch: int | None = None) -> list[Event]:
    first, *rest = in_parts(found)
    more: list[Event] = [
        RunRecordErrors(
            run_id="r", job_id="j", plan_hash=plan_hash, batch=batch, part=n, errors=part
        )
        for n, part in enumerate(rest, start=2)
    ]
    if batch is None:
        return [*more, planned(plan_hash, first)]
    applied = RunBatchApplied(
        run_id="r",
        job_id="j",
        plan_hash=plan_hash,
        batch=batch,
        batches=2,
        changes=len(found),
        stats=RunStats(failed=len(found)),
        errors=first,
    )
    return [*more, applied]


def fold(events: list[Event]) -> RunErrors:
    folded = RunErrors()
    for event in events:
        folded.apply(event)
    return folded


def test_errors_go_in_parts_by_count_and_by_size() -> None:
    assert [len(part) for part in in_parts(errors(250))] == [100, 100, 50]
    assert in_parts([]) == [[]]
    big = errors(20, message="x" * (MAX_MESSAGE + 100))
    parts = in_parts(big)
    assert all(len(e.message) == MAX_MESSAGE + 1 for part in parts for e in part)
    assert len(parts) == 1
    many = errors(MAX_ERRORS_PER_EVENT, message="x" * MAX_MESSAGE)
    assert sum(len(e.message) for e in many) > MAX_ERROR_BYTES
    split = in_parts(many)  # by size, not by count
    assert len(split) == 2 and sum(map(len, split)) == MAX_ERRORS_PER_EVENT


def test_every_error_of_the_plan_and_its_batches_is_folded_back_in_order() -> None:
    plan, first, second = errors(230, "P"), errors(150, "A"), errors(3, "B")
    folded = fold([*parts_of("h1", plan), *parts_of("h1", first, 1), *parts_of("h1", second, 2)])
    assert folded.plan == plan
    assert folded.all == plan + first + second


def test_a_new_plan_replaces_the_errors_of_the_one_before() -> None:
    before, after = errors(120, "old"), errors(110, "new")
    folded = fold([*parts_of("h1", before), *parts_of("h2", after)])
    assert folded.plan == after
    again = fold([*parts_of("h1", before), *parts_of("h1", before)])  # the same plan twice
    assert again.plan == before
