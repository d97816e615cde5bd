"""A three-node NATS cluster loses a node mid-run: the run completes as a clean run would,
nothing written twice; a node restarted catches up; a cluster without its quorum stops
the work, the services say so, and it resumes once the quorum is back.

Every stream, consumer and bucket keeps three copies (IDSYNC_REPLICAS=3), the services
know the three servers' URLs. "Mid-run" is made certain by holding the destination's
write lock: the runner has taken batches it cannot write yet when the node is killed.
IDSYNC_LONG_TESTS=1 kills the leader in more rounds.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import nats
import nats.errors
import nats.js.errors
import pytest

from core.errors import Unreachable
from schemas.events import Event, RunFinished, RunPlanned, RunStarted, is_end
from services.cli.client import connect
from services.common.host import ServiceHost
from services.common.jetstream import (
    JOURNAL,
    WORK,
    WORKER,
    ensure_infrastructure,
    patiently,
)
from services.common.settings import Settings
from tests.nats_cluster import NatsCluster, Node, cluster_log

from .conftest import JOB_ID, Files, apply_files, started
from .journal import events_of_run, wait_for_event
from .test_delivery import locked
from .test_scale_out import counted_destination, expected_rows, rows, writes_per_key

ROUNDS = 5 if os.environ.get("IDSYNC_LONG_TESTS") else 1
RECORDS = 2_000
BATCH = 200


@pytest.fixture
def cluster_settings(nats_cluster: NatsCluster, tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        nats_url=nats_cluster.url,
        principal="tester",
        runner_id="cluster-runner",
        ack_wait=5.0,
        max_deliver=20,
        retry_delay=0.5,
        scheduler_tick=0.5,
        replicas=3,
        liveness_interval=0.5,
    )


@asynccontextmanager
async def hosted(settings: Settings, *names: str) -> AsyncIterator[ServiceHost]:
    """The named services on one connection in this process, for the block's length."""
    stop, ready = asyncio.Event(), asyncio.Event()
    host = ServiceHost(names, settings, settings.nats_url or "")
    task = asyncio.create_task(host.run(stop, ready))
    # Ready once every stream and bucket has its three copies: a cluster just started (or
    # just back) elects their leaders first, which on a busy machine takes its time.
    await started(task, ready, 120)
    try:
        yield host
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


CLUSTER_TROUBLE = (Unreachable, nats.errors.Error, nats.js.errors.Error, TimeoutError)


async def look(settings: Settings, match: Callable[[Event], bool], timeout: float = 120.0) -> Event:
    """The first journal event that matches, asked again through a failover."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with connect(settings) as session:
                return await wait_for_event(session, match, max(deadline - time.monotonic(), 1))
        except CLUSTER_TROUBLE:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def start_run(settings: Settings, files: Files) -> str:
    async with connect(settings) as session:
        await apply_files(session, files)
        return await session.request_run(JOB_ID)


async def holding(settings: Settings, minimum: int = 1, timeout: float = 60) -> None:
    """Until the runner holds `minimum` batches it has not acknowledged (it waits on the
    destination's lock), and more are waiting on the queue."""
    deadline = time.monotonic() + timeout
    async with connect(settings) as session:
        while time.monotonic() < deadline:
            info = await session.js.consumer_info(WORK, WORKER.name)
            if info.num_ack_pending >= minimum and info.num_pending > 0:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("the runner never held batches of the run")


async def check_clean(settings: Settings, files: Files, run_id: str, people: object) -> None:
    """The run ended as a clean run does: every record once, one end, planned once."""
    end = await look(settings, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunFinished), end
    assert end.stats.created == RECORDS and end.stats.failed == 0, end.stats
    assert rows(files.db) == expected_rows(people), "no record missing"  # type: ignore[arg-type]
    writes = writes_per_key(files.db)
    assert len(writes) == RECORDS and set(writes.values()) == {1}, "none written twice"
    async with connect(settings) as session:
        events = await events_of_run(session, run_id)
    assert sum(isinstance(e, RunFinished) for e in events) == 1
    assert [e.attempt for e in events if isinstance(e, RunStarted)] == [1], "planned once"


@pytest.fixture(autouse=True)
def patient_destination(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "60")  # a batch waits for the lock


@pytest.mark.parametrize("round_", range(ROUNDS))
async def test_killing_the_work_streams_leader_mid_run_changes_nothing_twice(
    round_: int, files: Files, cluster_settings: Settings, nats_cluster: NatsCluster
) -> None:
    settings = cluster_settings
    people = files.write(count=RECORDS, batch_size=BATCH)
    counted_destination(files.db)
    async with hosted(settings, "workflow"), hosted(settings, "runner"):
        with locked(files.db):
            run_id = await start_run(settings, files)
            await look(settings, lambda e: isinstance(e, RunPlanned) and e.run_id == run_id)
            await holding(settings)
            leader = await nats_cluster.leader_of(WORK)
            leader.kill()
        try:
            await check_clean(settings, files, run_id, people)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{cluster_log(nats_cluster)}") from None
        new_leader = await nats_cluster.leader_of(WORK)
        assert new_leader is not leader and new_leader.running


async def test_killing_the_node_a_runner_is_connected_to_mid_run_changes_nothing_twice(
    files: Files, cluster_settings: Settings, nats_cluster: NatsCluster
) -> None:
    settings = cluster_settings
    people = files.write(count=RECORDS, batch_size=BATCH)
    counted_destination(files.db)
    async with hosted(settings, "workflow"), hosted(settings, "runner") as runner:
        with locked(files.db):
            run_id = await start_run(settings, files)
            await look(settings, lambda e: isinstance(e, RunPlanned) and e.run_id == run_id)
            await holding(settings)
            connected = runner.bus.broker.connection.connected_url
            assert connected is not None
            node = nats_cluster.by_url(f"nats://127.0.0.1:{connected.port}")
            node.kill()
        await check_clean(settings, files, run_id, people)
        moved = runner.bus.broker.connection.connected_url
        assert moved is not None and moved.port != node.client_port, "the runner moved on"


async def test_a_killed_node_restarted_catches_up_and_serves_the_next_run(
    files: Files, cluster_settings: Settings, nats_cluster: NatsCluster
) -> None:
    settings = cluster_settings
    people = files.write(count=RECORDS, batch_size=BATCH)
    counted_destination(files.db)
    async with hosted(settings, "workflow"), hosted(settings, "runner"):
        leader = await nats_cluster.leader_of(JOURNAL)
        leader.kill()
        await nats_cluster.settled()
        # The run goes on while the node is away: its copies fall behind.
        run_id = await start_run(settings, files)
        await check_clean(settings, files, run_id, people)
        await asyncio.to_thread(nats_cluster.restart, leader)
        for stream in (JOURNAL, WORK):
            await nats_cluster.caught_up(leader, stream)
        # The restarted node alone answers what the run did: its copy is whole.
        alone = msgspec.structs.replace(settings, nats_url=leader.url)
        async with connect(alone) as session:
            events = await events_of_run(session, run_id)
        assert any(isinstance(e, RunFinished) for e in events)


async def test_a_cluster_without_quorum_is_reported_and_the_run_resumes_when_it_returns(
    files: Files, cluster_settings: Settings, nats_cluster: NatsCluster
) -> None:
    settings = cluster_settings
    people = files.write(count=RECORDS, batch_size=BATCH)
    counted_destination(files.db)
    async with hosted(settings, "workflow") as workflow, hosted(settings, "runner") as runner:
        with locked(files.db):
            run_id = await start_run(settings, files)
            await look(settings, lambda e: isinstance(e, RunPlanned) and e.run_id == run_id)
            await holding(settings)
            lost: list[Node] = nats_cluster.nodes[:2]
            for node in lost:
                node.kill()
        for host in (workflow, runner):
            said = await said_so(host)
            assert said is not None and "lost its quorum" in said, said
            (not_ready,) = host.missing()  # what /readyz answers
            assert "lost its quorum" in not_ready, not_ready
        # Waiting costs next to nothing: no puller asks again at once (a busy loop took
        # 60% of a core here, pacing brings it near 1%).
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(3)
        busy = (time.process_time() - cpu) / (time.monotonic() - wall)
        assert busy < 0.2, f"the services used {busy:.0%} of a core waiting for the quorum"
        for node in lost:
            await asyncio.to_thread(nats_cluster.restart, node)
        await check_clean(settings, files, run_id, people)
        for host in (workflow, runner):
            assert await said_so(host, lambda problem: problem is None) is None


async def said_so(
    host: ServiceHost,
    until: Callable[[str | None], bool] = lambda problem: problem is not None,
    timeout: float = 60,
) -> str | None:
    """What the service says of its connection once `until` holds."""
    deadline = time.monotonic() + timeout
    while not until(problem := host.bus.health.problem):
        if time.monotonic() > deadline:
            raise AssertionError(f"the service still says {problem!r} after {timeout}s")
        await asyncio.sleep(0.1)
    return problem


async def test_a_whole_cluster_down_is_waited_for_without_spinning_and_resumed(
    files: Files, cluster_settings: Settings, nats_cluster: NatsCluster
) -> None:
    settings = cluster_settings
    people = files.write(count=RECORDS, batch_size=BATCH)
    counted_destination(files.db)
    async with hosted(settings, "workflow") as workflow, hosted(settings, "runner") as runner:
        with locked(files.db):
            run_id = await start_run(settings, files)
            await look(settings, lambda e: isinstance(e, RunPlanned) and e.run_id == run_id)
            await holding(settings)
            for node in nats_cluster.nodes:
                node.kill()
        for host in (workflow, runner):
            said = await said_so(host, lambda problem: problem is not None and "no NATS" in problem)
            assert said is not None and "reconnecting" in said, said
        # Each server is tried at most once a second: waiting costs next to nothing.
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(3)
        busy = (time.process_time() - cpu) / (time.monotonic() - wall)
        assert busy < 0.2, f"the services used {busy:.0%} of a core waiting for NATS"
        for node in nats_cluster.nodes:
            node.launch()
        for node in nats_cluster.nodes:
            await asyncio.to_thread(node.wait_healthy)
        await check_clean(settings, files, run_id, people)
        for host in (workflow, runner):
            assert await said_so(host, lambda problem: problem is None) is None


async def test_a_service_starting_while_a_node_is_down_waits_for_it_to_place_its_streams(
    cluster_settings: Settings, nats_cluster: NatsCluster
) -> None:
    """Three copies of each stream cannot be placed while a node is down: the refusal
    ("no suitable peers") is waited out and the streams made once it is back — not taken
    for a stream that exists already and updated, which JetStream answers "not found"."""
    down = nats_cluster.node("n3")
    down.kill()
    attempts = 0
    nc = await nats.connect([node.url for node in nats_cluster.nodes if node is not down])
    try:
        js = nc.jetstream()

        async def set_up() -> None:
            nonlocal attempts
            attempts += 1
            if attempts == 2:  # refused once: the node comes back
                await asyncio.to_thread(nats_cluster.restart, down)
            await ensure_infrastructure(js, cluster_settings)

        await patiently(set_up, "the set-up", pause=0.2)
        info = await js.stream_info(WORK)
    finally:
        await nc.close()
    assert attempts >= 2
    assert info.config.num_replicas == 3
