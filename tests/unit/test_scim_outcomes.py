"""What the SCIM endpoint tells of each pushed record once its run has ended
(services/scim_endpoint/outcomes.py), from the run's events and its stored plan: a record
the plan left alone on purpose, with a reason (a reference that resolves to nothing,
`if_none = "skip"`), is told skipped with that reason — never `unchanged`, which a
pushing system reads as done; and a record of a job in staging, whose runs plan and never
write, is told not applied, saying what was planned — never `created`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from schemas.events import Event, RunFinished, RunPlanned, RunRequested, RunStarted
from schemas.plan import Change, PlanCounts, RecordError, RunStats
from services.scim_endpoint import outcomes as module
from services.scim_endpoint.http import STATUS

JOB, RUN = "crm-to-dir", "20261207T233000Z-abc123"


def events(errors: list[RecordError], *, staged: bool = False) -> list[Event]:
    return [
        RunRequested(
            run_id=RUN, job_id=JOB, requested_by="crm", trigger="external", keys=["E1", "E2", "E3"]
        ),
        RunStarted(run_id=RUN, job_id=JOB, runner="r1"),
        RunPlanned(
            run_id=RUN,
            job_id=JOB,
            plan_hash="h",
            counts=PlanCounts(create=1),
            source_records=3,
            destination_records=0,
            batches=1,
            errors=errors,
            errors_total=len(errors),
        ),
        RunFinished(
            run_id=RUN,
            job_id=JOB,
            stats=RunStats(created=1),
            plan_hash="h",
            seconds=0.1,
            staged=staged,
        ),
    ]


async def test_a_record_skipped_with_a_reason_is_told_skipped_not_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    skip = RecordError(
        key="E2",
        action="resolve",
        object_type="user",
        skipped=True,
        message='manager: no value resolves; the object is skipped (if_none = "skip")',
    )

    async def run_events(nc: Any, job_id: str, run_id: str) -> list[Event]:
        return events([skip])

    async def load_plan(bus: Any, run_id: str) -> object:
        return object()

    async def changes_of(bus: Any, plan: object) -> AsyncIterator[Change]:
        yield Change(action="create", key="E1", match={"employee_id": "E1"})

    monkeypatch.setattr(module, "run_events", run_events)
    monkeypatch.setattr(module, "load_plan", load_plan)
    monkeypatch.setattr(module, "changes_of", changes_of)
    bus = SimpleNamespace(broker=SimpleNamespace(connection=None))
    found = await module.outcomes(bus, JOB, RUN)  # type: ignore[arg-type]
    assert found is not None and found.ended
    assert found.of("E1") == ("created", "")
    assert found.of("E2") == ("skipped", skip.message)
    assert found.of("E3") == ("unchanged", "")
    assert STATUS["skipped"] >= 400  # a pushing system reads anything else as done


async def test_a_record_of_a_job_in_staging_is_told_not_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def run_events(nc: Any, job_id: str, run_id: str) -> list[Event]:
        return events([], staged=True)

    async def load_plan(bus: Any, run_id: str) -> object:
        return object()

    async def changes_of(bus: Any, plan: object) -> AsyncIterator[Change]:
        yield Change(action="create", key="E1", match={"employee_id": "E1"})

    monkeypatch.setattr(module, "run_events", run_events)
    monkeypatch.setattr(module, "load_plan", load_plan)
    monkeypatch.setattr(module, "changes_of", changes_of)
    bus = SimpleNamespace(broker=SimpleNamespace(connection=None))
    found = await module.outcomes(bus, JOB, RUN)  # type: ignore[arg-type]
    assert found is not None and found.ended
    status, detail = found.of("E1")
    assert status == "not applied" and "staging" in detail and "created" in detail, detail
    assert found.of("E2")[0] == "not applied"
