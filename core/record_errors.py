"""A run's record errors: in parts when they are many, folded back together (pure).

The runner puts the first record errors of a plan (of a batch) in `run.planned`
(`run.batch-applied`) and the rest, in parts, in `run.record-errors` events published
just before it, so every reason is kept with the run however many there are.
`RunErrors` folds them back: `idsync run show` and the notifier's mails read a run's
errors through it.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from schemas.events import Event, RunBatchApplied, RunPlanned, RunRecordErrors
from schemas.plan import RecordError

MAX_ERRORS_PER_EVENT = 100
MAX_ERROR_BYTES = 256 * 1024
"""What the errors of one event take at most, well under the server's message limit."""
MAX_MESSAGE = 4_000
"""Characters of one error's message kept (a script's exception can be long)."""

_encoder = msgspec.json.Encoder()


def in_parts(errors: Sequence[RecordError]) -> list[list[RecordError]]:
    """The errors in parts for events: at most MAX_ERRORS_PER_EVENT and MAX_ERROR_BYTES
    each; always at least one part (the first goes in the main event, maybe empty)."""
    parts: list[list[RecordError]] = [[]]
    size = 0
    for error in errors:
        if len(error.message) > MAX_MESSAGE:
            cut = error.message[:MAX_MESSAGE] + "…"
            error = msgspec.structs.replace(error, message=cut)
        length = len(_encoder.encode(error))
        if parts[-1] and (
            len(parts[-1]) >= MAX_ERRORS_PER_EVENT or size + length > MAX_ERROR_BYTES
        ):
            parts.append([])
            size = 0
        parts[-1].append(error)
        size += length
    return parts


class RunErrors:
    """One run's record errors, folded from its events in journal order: those of the
    plan in force (a re-plan replaces them) and those of its batches."""

    def __init__(self) -> None:
        self.plan: list[RecordError] = []
        self.batches: list[RecordError] = []
        # Parts come before the event they complete: by plan hash (or batch), then part.
        self._plan_parts: dict[str, dict[int, list[RecordError]]] = {}
        self._batch_parts: dict[int, dict[int, list[RecordError]]] = {}

    def apply(self, event: Event) -> None:
        match event:
            case RunRecordErrors(batch=None, plan_hash=plan_hash, part=part, errors=errors):
                self._plan_parts.setdefault(plan_hash, {})[part] = errors
            case RunRecordErrors(batch=int(batch), part=part, errors=errors):
                self._batch_parts.setdefault(batch, {})[part] = errors
            case RunPlanned(plan_hash=plan_hash, errors=errors):
                self.plan = [*errors, *_joined(self._plan_parts.pop(plan_hash, {}))]
            case RunBatchApplied(batch=batch, errors=errors):
                self.batches += [*errors, *_joined(self._batch_parts.pop(batch, {}))]
            case _:
                pass

    @property
    def all(self) -> list[RecordError]:
        return self.plan + self.batches


def _joined(parts: dict[int, list[RecordError]]) -> list[RecordError]:
    return [error for part in sorted(parts) for error in parts[part]]
