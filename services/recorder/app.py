"""The recorder: projects the journal into the history database and answers queries.

Its durable consumer (`recorder`, every run event, deliver-all) starts at the journal's
first event, so a recorder added to a deployment builds the history of what the
journal still holds. One event at a time, in journal order: each is written in one
transaction, then acknowledged (services/common/delivery.py), so a recorder stopped
anywhere loses nothing and, delivered an event again, writes the same rows again.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from datetime import UTC, datetime

import msgspec
import nats.errors
from faststream.nats import NatsBroker

from core.errors import IdsyncError
from schemas.events import Event
from schemas.history import HistoryReply, encode, query_decoder
from schemas.logs import batch_decoder
from schemas.subjects import command_subject
from services.common.bus import Bus
from services.common.consumers import Delivered, subscribe_durable
from services.common.delivery import deliberately
from services.common.host import Background
from services.common.jetstream import RECORDER, RECORDER_JOBS, RECORDER_LOGS, RECORDER_ROLES
from services.common.loops import idle

from .allowed import history_refusal
from .answers import answer
from .database import Database, DatabaseError, history_url, open_history
from .logs import keep as keep_logs
from .project import Recorder, log
from .retention import PRUNE_EVERY, keeps, prune
from .versions import POLL

QUEUE = "idsync-recorder"  # several recorders on one database: each query answered once
VERB = "history"
_sequence: ContextVar[int] = ContextVar("journal_sequence", default=0)
_stored: ContextVar[datetime | None] = ContextVar("journal_time", default=None)


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    settings = bus.settings
    history_url(settings.history_url, settings.history_password_file)  # BadInput: not started
    opened: dict[str, Database] = {}

    async def open_database(*, write: bool) -> Database:
        return await open_history(
            settings.home, settings.history_url, settings.history_password_file, write=write
        )

    recorder: list[Recorder] = []
    opening = asyncio.Lock()
    stopping = asyncio.Event()
    """Set once the host stops: messages still delivered are left for the next start."""

    async def writer() -> Recorder:
        """The one Recorder, on the one writing connection (opened by whoever comes first)."""
        async with opening:
            if not recorder:
                opened["write"] = await open_database(write=True)
                log.info("history database", where=opened["write"].where)
                recorder.append(Recorder(bus, opened["write"]))
        return recorder[0]

    async def handle(event: Event, attempt: int) -> None:
        await (await writer()).record(event, _sequence.get(), _stored.get())

    handler = deliberately(bus, handle)

    async def on_event(msg: Delivered) -> None:
        if stopping.is_set():
            await msg.nack()  # the database is closing: recorded at the next start
            return
        # The journal's sequence orders the fold (a redelivered event keeps its own).
        metadata = msg.raw_message.metadata
        _sequence.set(metadata.sequence.stream)
        _stored.set(metadata.timestamp)  # the server's time: job versions are compared with it
        await handler(msg)

    subscribe_durable(bus, RECORDER, on_event, batch_size=1, title="history")
    subscribe_durable(bus, RECORDER_ROLES, on_event, batch_size=1, title="role changes")
    # A job deleted with its history: its runs forgotten (forget.py).
    subscribe_durable(bus, RECORDER_JOBS, on_event, batch_size=1, title="jobs forgotten")

    async def on_logs(msg: Delivered) -> None:
        # No run bound here: what this logs is no run's line (nor sent again as one).
        if stopping.is_set():  # the lines services send as they stop: kept at the next start
            await msg.nack()
            return
        try:
            batch = batch_decoder.decode(msg.body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            log.error("undecodable log lines terminated", error=str(error))
            await msg.reject()
            return
        try:
            written = await writer()
            async with written.lock:
                await keep_logs(written.db, batch)
        except DatabaseError as error:
            log.warning("run's log lines not recorded; will retry", error=str(error))
            await msg.nack(delay=bus.settings.retry_delay)
            return
        await msg.ack()

    subscribe_durable(bus, RECORDER_LOGS, on_logs, batch_size=1, title="runs' log lines")

    @broker.subscriber(command_subject("*", VERB), queue=QUEUE, title="history queries")
    async def on_query(msg: Delivered) -> bytes:
        try:
            query = query_decoder.decode(msg.body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            return encode(HistoryReply(ok=False, error=f"not a history query: {error}"))
        try:
            written = await writer()  # the tables exist before anyone reads them
        except DatabaseError as error:
            return encode(HistoryReply(ok=False, error=f"the history database: {error}"))
        if query.what in ("why", "versions"):
            try:
                await written.versions.catch_up()  # a job applied a moment ago is there
            except (IdsyncError, nats.errors.Error, DatabaseError) as error:
                log.warning("job versions not read", error=str(error))
        try:
            async with opening:
                if "read" not in opened:
                    opened["read"] = await open_database(write=False)
            principal = msg.raw_message.subject.split(".")[2]
            refused = await history_refusal(bus, opened["read"], principal, query)
            if refused is not None:
                return encode(HistoryReply(ok=False, error=refused))
            return encode(await answer(opened["read"], query))
        except DatabaseError as error:
            log.warning("history query not answered", error=str(error))
            return encode(HistoryReply(ok=False, error=f"the history database: {error}"))

    async def keep_in_time() -> None:
        """Every PRUNE_EVERY seconds, the runs past their job's time archived and removed."""
        while True:
            try:
                written = await writer()
                async with written.lock:
                    keep = await keeps(written.db, bus.settings.history_keep_days)
                    pruned = await prune(written.db, bus.settings.home, keep, datetime.now(UTC))
                if pruned.runs:
                    log.info(
                        "history archived",
                        runs=pruned.runs,
                        rows=pruned.rows,
                        archives=pruned.archives,
                    )
            except OSError as error:
                log.error("history not pruned: its archive cannot be written", error=str(error))
            except DatabaseError as error:
                log.warning("history not pruned", error=str(error))
            await idle(PRUNE_EVERY)

    async def watch_jobs() -> None:
        """Every POLL seconds, the job definitions applied since the last look."""
        while True:
            try:
                await (await writer()).versions.catch_up()
            except (IdsyncError, nats.errors.Error, DatabaseError) as error:
                log.warning("job versions not read", error=str(error))
            await idle(POLL)

    async def close_at_stop() -> None:
        # aiosqlite's threads keep a process alive: the databases close when the host stops,
        # once the write under way (if any) is done; what comes after waits for the next start.
        try:
            await asyncio.Event().wait()
        finally:
            stopping.set()
            async with opening:
                if recorder:
                    async with recorder[0].lock:
                        await _close(opened)
                else:
                    await _close(opened)

    return [close_at_stop, watch_jobs, keep_in_time]


async def _close(opened: dict[str, Database]) -> None:
    for db in opened.values():
        await db.close()
