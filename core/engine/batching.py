"""Batching: a plan's changes cut into work-queue messages of bounded size.

Batches of one phase may be applied in parallel and the next phase starts when the
previous one is done, so a batch never holds changes of two phases (phases.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import msgspec

from core.errors import BadInput
from schemas.plan import Change

from .phases import phase_of

# Bytes counted per change beyond its own JSON: the separating comma and some slack
# for the message around the list, so an estimate under max_bytes stays under it.
CHANGE_OVERHEAD = 16

_encoder = msgspec.json.Encoder()


def change_size(change: Change) -> int:
    """The bytes a change is estimated to take in a batch message."""
    return len(_encoder.encode(change)) + CHANGE_OVERHEAD


def split_batches(
    changes: Sequence[Change], max_changes: int, max_bytes: int
) -> list[list[Change]]:
    """Consecutive runs of `changes`, in order, each of one phase, at most `max_changes`
    changes and at most `max_bytes` estimated bytes (see `change_size`).

    Raises BadInput for limits below one and for a change that alone exceeds `max_bytes`.
    """
    return list(each_batch(changes, max_changes, max_bytes))


def each_batch(
    changes: Iterable[Change], max_changes: int, max_bytes: int
) -> Iterator[list[Change]]:
    """`split_batches` one batch at a time, for a plan too large to hold twice."""
    if max_changes < 1 or max_bytes < 1:
        raise BadInput(
            f"batch limits must be at least 1 (max_changes={max_changes}, max_bytes={max_bytes})"
        )
    batch: list[Change] = []
    batch_bytes = 0
    batch_phase = ""
    # change_size inlined: this runs for every change of every plan.
    for change in changes:
        size = len(_encoder.encode(change)) + CHANGE_OVERHEAD
        if size > max_bytes:
            raise BadInput(
                f"the {change.action} of {change.key!r} takes {size} bytes, more than a batch "
                f"may hold ({max_bytes}); shorten its values or raise the batch size limit"
            )
        phase = phase_of(change)
        full = len(batch) >= max_changes or batch_bytes + size > max_bytes
        if batch and (full or phase != batch_phase):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(change)
        batch_bytes += size
        batch_phase = phase
    if batch:
        yield batch
