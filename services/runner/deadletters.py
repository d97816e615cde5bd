"""Dead letters: messages given up on after their last delivery.

The server announces each as an advisory, kept by the dead-letter stream; the message
itself stays in its stream. A retry republishes it (a fresh copy, delivered afresh)
and removes the old copy from the work queue; a drop abandons it: a batch's records
count as failed and the run goes on to its next phase or its end; a run that could
not be planned fails.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec
import nats.js.errors
from nats.js import JetStreamContext

from schemas.event_ids import retried_id
from schemas.events import RunApproved, decode_event
from schemas.plan import RunStats
from schemas.work import WorkBatch, decode_batch
from services.common.errors import BadInput, NotFound
from services.common.jetstream import DEADLETTERS, WORK
from services.common.runs import RunState, StateChange

from .outcomes import Ledger, count_batch

if TYPE_CHECKING:  # the command line lists these without loading FastStream
    from services.common.bus import Bus


class DeadLetter(msgspec.Struct, kw_only=True):
    seq: int
    """Its number in the dead-letter stream: what `idsync deadletter retry|drop` take."""
    reason: str
    """"max deliveries" or "terminated"."""
    stream: str
    consumer: str
    stream_seq: int
    deliveries: int
    at: datetime
    run_id: str = ""
    job_id: str = ""
    what: str = ""
    present: bool = True
    """Whether the message is still in its stream (a terminated work batch is not)."""


async def dead_letters(js: JetStreamContext) -> list[DeadLetter]:
    try:
        info = await js.stream_info(DEADLETTERS)
    except nats.js.errors.NotFoundError:
        return []
    if not info.state.messages:  # an empty stream's sequences start at 0: nothing to get
        return []
    letters = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            letters.append(await _letter(js, seq))
        except nats.js.errors.NotFoundError:
            continue  # handled already
    return letters


async def _letter(js: JetStreamContext, seq: int) -> DeadLetter:
    stored = await js.get_msg(DEADLETTERS, seq)
    advisory = json.loads(stored.data or b"{}")
    letter = DeadLetter(
        seq=seq,
        reason="terminated" if "TERMINATED" in (stored.subject or "") else "max deliveries",
        stream=advisory.get("stream", ""),
        consumer=advisory.get("consumer", ""),
        stream_seq=int(advisory.get("stream_seq", 0)),
        deliveries=int(advisory.get("deliveries", 0)),
        at=msgspec.convert(advisory.get("timestamp"), datetime),
    )
    try:
        original = await js.get_msg(letter.stream, letter.stream_seq)
    except nats.js.errors.NotFoundError:
        letter.present = False
        return letter
    try:
        message = _decode(letter.stream, original.data or b"")
    except (msgspec.DecodeError, msgspec.ValidationError):
        letter.what = "an undecodable message"
        return letter
    letter.run_id, letter.job_id = message.run_id, message.job_id
    letter.what = (
        f"batch {message.number} ({len(message.changes)} changes)"
        if isinstance(message, WorkBatch)
        else f"{message.__struct_config__.tag} (planning)"
    )
    return letter


def _decode(stream: str, data: bytes) -> WorkBatch | RunApproved:
    if stream == WORK:
        return decode_batch(data)
    event = decode_event(data)
    if not isinstance(event, RunApproved):
        raise msgspec.ValidationError(f"not a run approval: {event.__struct_config__.tag}")
    return event


async def retry(bus: Bus, seq: int) -> DeadLetter:
    """Deliver the message afresh, as a new copy; the old copy and the letter go."""
    letter = await _find(bus.js, seq)
    original = await bus.js.get_msg(letter.stream, letter.stream_seq)
    message = _decode(letter.stream, original.data or b"")
    headers = dict(original.headers or {})
    headers["Nats-Msg-Id"] = retried_id(headers.get("Nats-Msg-Id", str(letter.stream_seq)), seq)
    await bus.broker.publish(
        original.data or b"", original.subject or "", headers=headers, stream=letter.stream
    )
    if letter.stream == WORK:  # the journal keeps its history; the work queue its work
        await bus.js.delete_msg(letter.stream, letter.stream_seq)
    if isinstance(message, WorkBatch):
        await bus.runs.change(message.run_id, _undead(message.number))
    await bus.js.delete_msg(DEADLETTERS, seq)
    return letter


async def drop(bus: Bus, seq: int, principal: str) -> tuple[DeadLetter, WorkBatch | None]:
    """Abandon the message. Returns the batch dropped, for the run to go on without it."""
    letter = await _find(bus.js, seq, present=False)
    if not letter.present:  # nothing left to abandon but the letter
        await bus.js.delete_msg(DEADLETTERS, seq)
        return letter, None
    original = await bus.js.get_msg(letter.stream, letter.stream_seq)
    message = _decode(letter.stream, original.data or b"")
    if letter.stream == WORK:
        await bus.js.delete_msg(letter.stream, letter.stream_seq)
    await bus.js.delete_msg(DEADLETTERS, seq)
    if not isinstance(message, WorkBatch):
        return letter, None

    def dropped(state: RunState | None) -> RunState | None:
        if state is None or state.plan_hash != message.plan_hash:
            return None
        _undead(message.number)(state)
        if message.number not in state.done:
            ledger = Ledger(state.failed_records)
            abandoned = [f"batch {message.number} dropped"] * len(message.changes)
            failed = count_batch(message, abandoned, ledger, set(state.done))
            state.failed_records = ledger.encode()
            state.done.append(message.number)
            state.applied = state.applied.add(failed).add(RunStats(dead_letters=1))
        return state

    await bus.runs.change(message.run_id, dropped)
    return letter, message


async def _find(js: JetStreamContext, seq: int, *, present: bool = True) -> DeadLetter:
    try:
        letter = await _letter(js, seq)
    except nats.js.errors.NotFoundError:
        raise NotFound(f"no dead letter {seq}: `idsync deadletter list` shows them") from None
    if present and not letter.present:
        raise BadInput(
            f"dead letter {seq}: the message is gone from {letter.stream} (a terminated "
            f"message on a work queue is removed); `idsync deadletter drop {seq}` clears it"
        )
    return letter


def _undead(number: int) -> StateChange:
    def change(state: RunState | None) -> RunState | None:
        if state is None or number not in state.dead:
            return None
        state.dead.remove(number)
        return state

    return change
