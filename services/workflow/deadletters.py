"""`idsync deadletter retry|drop`: the workflow answers them, as it alone may publish an
approval again and delete a stream's messages (docs/security.md).

A retry republishes the message as a new copy, delivered afresh, and removes the old
copy from the work queue (the journal keeps its history). A drop abandons it: a batch
of a run going on is announced `run.batch-dropped`, and the runner that takes that
event counts the batch's records as failed and moves the run on
(services/runner/dropped.py); a batch of a run that has ended (cancelled while it waited
on the letter) is only deleted; a run that could not be planned fails.
"""

from __future__ import annotations

import msgspec

from core.errors import IdsyncError
from schemas.commands import CommandReply, deadletter_command_decoder
from schemas.event_ids import batch_dropped_id, retried_id
from schemas.events import RunBatchDropped
from schemas.work import WorkBatch
from services.common.bus import Bus
from services.common.deadletters import DeadLetter, decode_message, find, not_dead
from services.common.ending import fail_run
from services.common.jetstream import DEADLETTERS, WORK


async def answer_dead_letter(bus: Bus, principal: str, body: bytes) -> CommandReply:
    """The `deadletter` command: retry or drop the dead letter it names."""
    try:
        command = deadletter_command_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a dead letter command: {error}")
    try:
        if command.action == "retry":
            letter = await retry(bus, command.seq)
        else:
            letter = await drop(bus, command.seq, principal)
    except IdsyncError as error:
        return CommandReply(ok=False, error=str(error))
    return CommandReply(ok=True, run_id=letter.run_id or "-")


async def retry(bus: Bus, seq: int) -> DeadLetter:
    """Deliver the message afresh, as a new copy; the old copy and the letter go."""
    letter = await find(bus.js, seq)
    original = await bus.js.get_msg(letter.stream, letter.stream_seq)
    message = decode_message(letter.stream, original.data or b"")
    headers = dict(original.headers or {})
    headers["Nats-Msg-Id"] = retried_id(headers.get("Nats-Msg-Id", str(letter.stream_seq)), seq)
    await bus.broker.publish(
        original.data or b"", original.subject or "", headers=headers, stream=letter.stream
    )
    if letter.stream == WORK:  # the journal keeps its history; the work queue its work
        await bus.js.delete_msg(letter.stream, letter.stream_seq)
    if isinstance(message, WorkBatch):
        await bus.runs.change(message.run_id, not_dead(message.number))
    await bus.js.delete_msg(DEADLETTERS, seq)
    return letter


async def drop(bus: Bus, seq: int, principal: str) -> DeadLetter:
    """Abandon the message: a batch is announced dropped (a runner counts it and the run
    goes on); a run whose planning, or counting a dropped batch, was given up on fails."""
    letter = await find(bus.js, seq, present=False)
    if not letter.present:  # nothing left to abandon but the letter
        await bus.js.delete_msg(DEADLETTERS, seq)
        return letter
    original = await bus.js.get_msg(letter.stream, letter.stream_seq)
    message = decode_message(letter.stream, original.data or b"")
    if isinstance(message, WorkBatch):
        state = await bus.runs.get(message.run_id)
        if state is not None and state.ended:  # cancelled meanwhile: nothing goes on
            await bus.runs.change(message.run_id, not_dead(message.number))
            await bus.js.delete_msg(letter.stream, letter.stream_seq)
            await bus.js.delete_msg(DEADLETTERS, seq)
            return letter
        # Said first: should the deletes below not happen, a second drop says it again
        # (the runner counts a batch once).
        await bus.publish(
            RunBatchDropped(
                run_id=message.run_id,
                job_id=message.job_id,
                id=batch_dropped_id(message.run_id, message.plan_hash, message.number),
                plan_hash=message.plan_hash,
                batch=message.number,
                changes=len(message.changes),
                by=principal,
            )
        )
        await bus.js.delete_msg(letter.stream, letter.stream_seq)
        await bus.js.delete_msg(DEADLETTERS, seq)
        return letter
    await bus.js.delete_msg(DEADLETTERS, seq)
    after = (
        "planning failed"
        if not isinstance(message, RunBatchDropped)
        else f"batch {message.batch} could not be counted as dropped"
    )
    await fail_run(bus, message.run_id, message.job_id, f"dropped by {principal} after {after}")
    return letter
