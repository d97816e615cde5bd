"""The runner: the only service that touches data sources. Wiring only.

Three durable consumers: approvals (plan a run: run.py), the work queue (apply a batch:
work.py) and the batches dropped as dead letters (count them and go on: dropped.py).
Every runner process pulls from the same consumers, so runs and batches are shared out
among however many runners there are. A runner of a site (IDSYNC_SITE) pulls its site's
approvals and batches instead, which central runners hand over (sites.py).
"""

from __future__ import annotations

import msgspec
from faststream.nats import NatsBroker

from schemas.event_ids import planning_dead_id, planning_failed_id
from schemas.events import Event, RunApproved, RunBatchDropped, RunDeadLetter, RunDeliveryFailed
from schemas.previews import PreviewReply
from schemas.subjects import ALL_PREVIEWS, site_preview_subject
from schemas.work import WorkBatch, decode_columns
from services.common import pushed
from services.common.bus import Bus
from services.common.collector import collector_paused
from services.common.consumers import Delivered, subscribe_durable
from services.common.delivery import Failure, consume, deliberately
from services.common.host import Background
from services.common.jetstream import DROPS, RUNNER, WORKER, site_consumers
from services.common.logging import get_logger
from services.providers.sql.pools import close_pools
from services.providers.sqlite.kept import close_kept

from .ahead import load_ahead
from .dropped import count_dropped
from .health import Work, heartbeat
from .plans import recall
from .previews import answer_preview
from .run import Planner
from .sites import job_site
from .work import apply_batch, give_up, retrying

log = get_logger("idsync.runner")
PREVIEWS_QUEUE = "runner-previews"
"""One runner answers each preview."""
_reply_encoder = msgspec.json.Encoder()


def decode_work(data: bytes) -> WorkBatch:
    """A batch from the work queue: thousands of small records, none in a cycle. Plain
    creates sent as columns stay columns: a destination that applies them so makes no
    change of them (planning/sides.py)."""
    with collector_paused():
        return decode_columns(data)


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    settings = bus.settings
    pushed.bind(lambda: bus.broker.connection)  # a scim-inbound source reads the bucket

    work = Work()
    bus.at_stop.append(close_pools)  # the SQL databases' connections, batches done
    bus.at_stop.append(close_kept)  # SQLite files kept open between batches

    async def plan(event: Event, attempt: int) -> None:
        if not isinstance(event, RunApproved):
            return
        if not settings.site and (site := await job_site(bus.store, event.job_id)):
            log.info("run handed to its site's runners", site=site, run_id=event.run_id)
            await bus.hand_to_site(event, site)
            return
        # Paused until the plan is stored and its first batches are out: resumed as planning
        # ends, the collector would scan the plan held meanwhile (services/common/collector.py).
        with work.doing(f"planning {event.job_id} run {event.run_id}"), collector_paused():
            await Planner(event, attempt, bus, settings.runner_id).execute()

    async def plan_given_up(event: Event, error: BaseException) -> None:
        await bus.publish(
            RunDeadLetter(
                run_id=event.run_id,
                job_id=event.job_id,
                id=planning_dead_id(event.id),
                stage="plan",
                error=f"planning failed {settings.max_deliver} times: {error}",
            )
        )

    async def plan_retrying(event: Event, failure: Failure) -> None:
        await bus.publish(
            RunDeliveryFailed(
                run_id=event.run_id,
                job_id=event.job_id,
                id=planning_failed_id(event.id, failure.copy, failure.attempt),
                stage="plan",
                error=str(failure.error) or type(failure.error).__name__,
                attempt=failure.attempt,
                attempts=failure.attempts,
                retry_in=failure.retry_in,
            )
        )

    async def apply(batch: WorkBatch, attempt: int) -> None:
        # Paused while the batch is applied: the rows and statements made for it, none in a
        # cycle, are let go before the collector resumes (once the batches applied side by
        # side are all done).
        with (
            work.doing(f"{batch.job_id} run {batch.run_id} batch {batch.number}"),
            collector_paused(),
        ):
            await apply_batch(batch, attempt, bus, settings.runner_id)

    async def apply_given_up(batch: WorkBatch, error: BaseException) -> None:
        await give_up(bus, batch, error)

    async def apply_retrying(batch: WorkBatch, failure: Failure) -> None:
        await retrying(bus, batch, failure)

    async def on_dropped(event: Event, attempt: int) -> None:
        if isinstance(event, RunBatchDropped):
            await count_dropped(bus, event)

    where = f" of site {settings.site}" if settings.site else ""
    # Central runners answer the portal's previews, and hand a site's job's to the site's
    # runners (previews.py), which reach their site's data only.
    previews, queue = ALL_PREVIEWS, PREVIEWS_QUEUE
    if settings.site:
        previews, queue = site_preview_subject(settings.site), f"{PREVIEWS_QUEUE}-{settings.site}"

    @broker.subscriber(previews, queue=queue, title=f"runner: previews{where}")
    async def on_preview(msg: Delivered) -> bytes:
        principal = msg.raw_message.subject.split(".")[2]
        with work.doing(f"previewing for {principal}"):
            reply: PreviewReply = await answer_preview(bus, principal, msg.body)
        return _reply_encoder.encode(reply)

    # A central runner takes every approval (and hands a site's to its queue); a site's
    # runner, its site's approvals and batches only.
    approvals, batches = site_consumers(settings.site) if settings.site else (RUNNER, WORKER)
    # One plan at a time: plans are large.
    subscribe_durable(
        bus,
        approvals,
        deliberately(bus, plan, plan_given_up, plan_retrying),
        batch_size=1,
        title=f"runner: approved runs{where}",
    )
    # A small fetch: the batches this runner applies at once, the rest left for others.
    subscribe_durable(
        bus,
        batches,
        consume(bus, decode_work, apply, apply_given_up, apply_retrying, recall),
        batch_size=settings.runner_concurrency,
        title=f"runner: change batches{where}",
    )
    # The workflow answers `idsync deadletter drop` (it alone may delete a stream's
    # messages); the run's own accounting of a dropped batch is the runner's.
    subscribe_durable(
        bus, DROPS, deliberately(bus, on_dropped), batch_size=4, title="runner: dropped batches"
    )
    return [lambda: heartbeat(bus, work), lambda: load_ahead(bus)]
