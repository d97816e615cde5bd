"""Dead letters: messages given up on after their last delivery, as listed.

The server announces each as an advisory, kept by the dead-letter stream; the message
itself stays in its stream: a change batch on the work queue, or an event of the
journal (an approval that could not be planned, a dropped batch that could not be
counted). `idsync deadletter list` reads them here; the workflow, which answers
`idsync deadletter retry|drop`, finds them here too (services/workflow/deadletters.py).
"""

from __future__ import annotations

import json
from datetime import datetime

import msgspec
import nats.js.errors
from nats.js import JetStreamContext

from core.errors import BadInput, NotFound
from schemas.events import RunApproved, RunBatchDropped, decode_event
from schemas.work import WorkBatch, decode_batch

from .jetstream import DEADLETTERS, WORK
from .runs import RunState, StateChange


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


Message = WorkBatch | RunApproved | RunBatchDropped
"""What a dead letter can be: a batch, planning a run, counting a dropped batch."""


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


async def find(js: JetStreamContext, seq: int, *, present: bool = True) -> DeadLetter:
    """The dead letter `seq`; NotFound if there is none, BadInput if its message is gone
    from its stream and `present` is asked for."""
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


def decode_message(stream: str, data: bytes) -> Message:
    """The message a dead letter points to (msgspec errors for one that is none)."""
    if stream == WORK:
        return decode_batch(data)
    event = decode_event(data)
    if not isinstance(event, RunApproved | RunBatchDropped):
        raise msgspec.ValidationError(f"not a run approval: {event.__struct_config__.tag}")
    return event


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
        message = decode_message(letter.stream, original.data or b"")
    except (msgspec.DecodeError, msgspec.ValidationError):
        letter.what = "an undecodable message"
        return letter
    letter.run_id, letter.job_id = message.run_id, message.job_id
    match message:
        case WorkBatch(number=number, changes=changes):
            letter.what = f"batch {number} ({len(changes)} changes)"
        case RunBatchDropped(batch=batch):
            letter.what = f"{message.__struct_config__.tag} (counting batch {batch} as dropped)"
        case _:
            letter.what = f"{message.__struct_config__.tag} (planning)"
    return letter


def not_dead(number: int) -> StateChange:
    """The run's state once its batch `number` is no longer a dead letter."""

    def change(state: RunState | None) -> RunState | None:
        if state is None or number not in state.dead:
            return None
        state.dead.remove(number)
        return state

    return change
