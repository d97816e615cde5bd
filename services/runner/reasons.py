"""Publishing every record error of a plan or a batch: the first ones go in the event
itself, the rest in `run.record-errors` parts published just before it
(core/record_errors.py folds them back)."""

from __future__ import annotations

from core.record_errors import in_parts
from schemas.event_ids import record_errors_id
from schemas.events import RunRecordErrors
from schemas.plan import RecordError
from services.common.bus import Bus


async def publish_rest(
    bus: Bus, run_id: str, job_id: str, plan_hash: str, batch: int | None, errors: list[RecordError]
) -> list[RecordError]:
    """Publish the errors after the first part; the first part, for the event itself."""
    first, *rest = in_parts(errors)
    for part, more in enumerate(rest, start=2):
        await bus.publish(
            RunRecordErrors(
                run_id=run_id,
                job_id=job_id,
                id=record_errors_id(run_id, plan_hash, batch, part),
                plan_hash=plan_hash,
                batch=batch,
                part=part,
                errors=more,
            )
        )
    return first
