"""A real three-node nats-server cluster on loopback: routes, JetStream with a store per
node, each node stopped by pid — and killed, restarted, or asked who leads a stream.

`NatsCluster(directory).start()`; `cluster.url` lists the three client URLs, comma-
separated, as IDSYNC_NATS_URL takes them. A node is killed with SIGKILL (as a crash or a
pulled cable would) and restarted on the same ports and store, so it catches up."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.js import JetStreamContext

from services.common.embedded import nats_server_binary
from tests import ports
from tests.ports import NotStarted, log_tail, start_on_free_ports

CLUSTER_NAME = "idsync-test"
T = TypeVar("T")


def serves_on(monitor_port: int, client_port: int) -> bool:
    """Whether the nats-server monitored on `monitor_port` is the one taking clients on
    `client_port` (not some other server that took the monitoring port first)."""
    url = f"http://127.0.0.1:{monitor_port}/varz"
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # loopback only
            return bool(json.load(answer).get("port") == client_port)
    except (OSError, ValueError):
        return False


class Node:
    """One server of the cluster: its name, ports and store, started and stopped by pid."""

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.directory = directory
        self.routes: list[int] = []
        self.process: subprocess.Popen[bytes] | None = None
        self.client_port = self.cluster_port = self.monitor_port = 0
        """Picked as the cluster starts."""

    def pick_ports(self) -> None:
        self.client_port = ports.free_port()
        self.cluster_port = ports.free_port()
        self.monitor_port = ports.free_port()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        routes = ",".join(f"nats://127.0.0.1:{port}" for port in self.routes)
        args = [
            str(nats_server_binary()),
            "--server_name",
            self.name,
            "-a",
            "127.0.0.1",
            "-p",
            str(self.client_port),
            "-m",
            str(self.monitor_port),
            "--cluster_name",
            CLUSTER_NAME,
            "--cluster",
            f"nats://127.0.0.1:{self.cluster_port}",
            "--routes",
            routes,
            "-js",
            "-sd",
            str(self.directory / "js"),
            "-P",
            str(self.directory / "nats.pid"),
            "-l",
            str(self.directory / "nats.log"),
        ]
        # A server holding our pipes would hang whoever captures them: no pipes at all.
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def healthy(self, what: str = "js-enabled-only=true") -> bool:
        url = f"http://127.0.0.1:{self.monitor_port}/healthz?{what}"
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:  # loopback only
                return bool(answer.status == 200)
        except OSError:
            return False

    def wait_healthy(self, timeout: float = 20.0, what: str = "js-enabled-only=true") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited; see {self.directory / 'nats.log'}")
            if self.healthy(what) and serves_on(self.monitor_port, self.client_port):
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.name} not healthy within {timeout}s ({what})")

    def kill(self) -> None:
        """SIGKILL: no goodbye to the cluster, nothing flushed."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


class NatsCluster:
    """Three nodes (n1, n2, n3) routed to one another, JetStream on each."""

    def __init__(self, directory: Path, size: int = 3) -> None:
        self.nodes = [Node(f"n{n + 1}", directory / f"n{n + 1}") for n in range(size)]
        self._route()

    def _route(self) -> None:
        for node in self.nodes:
            node.routes = [other.cluster_port for other in self.nodes if other is not node]

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated (IDSYNC_NATS_URL)."""
        return ",".join(node.url for node in self.nodes)

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def start(self, attempts: int = ports.ATTEMPTS) -> NatsCluster:
        """Start every node; again on other ports if one of those picked was taken
        meanwhile by another program (the ports are free when picked, not reserved)."""
        return start_on_free_ports(self._start_once, attempts)

    def _start_once(self) -> NatsCluster:
        for node in self.nodes:
            node.pick_ports()
            shutil.rmtree(node.directory, ignore_errors=True)  # a failed start's store
        self._route()
        try:
            for node in self.nodes:
                node.launch()
            for node in self.nodes:
                node.wait_healthy()
            # JetStream's meta group has a leader: streams can be made.
            for node in self.nodes:
                node.wait_healthy(what="")
        except AssertionError as failure:
            self.stop()
            raise NotStarted(str(failure), cluster_log(self)) from failure
        return self

    def restart(self, node: Node) -> None:
        """Start a killed node again on its ports and store: it rejoins and catches up."""
        node.launch()
        node.wait_healthy()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def by_url(self, url: str) -> Node:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        return next(node for node in self.nodes if node.client_port == port)

    async def leader_of(self, stream: str, timeout: float = 30.0) -> Node:
        """The node that leads `stream` now, as JetStream's stream info says."""
        leader = await self._ask(lambda js: _stream_leader(js, stream), timeout)
        return next(node for node in self.nodes if node.name == leader)

    async def settled(self, timeout: float = 30.0) -> None:
        """Until every stream (buckets too) has a leader on a running node."""
        running = {node.name for node in self.nodes if node.running}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leaders = await self._ask(_leaders, timeout)
            if all(leader in running for leader in leaders):
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"streams without a leader after {timeout}s")

    async def caught_up(self, node: Node, stream: str, timeout: float = 30.0) -> None:
        """Until `node` is a current replica (or the leader) of `stream`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = await self._ask(lambda js: _replica_state(js, stream, node.name), timeout)
            if state:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"{node.name} did not catch up on {stream} within {timeout}s")

    async def _ask(self, question: Callable[[JetStreamContext], Awaitable[T]], timeout: float) -> T:
        """Ask JetStream through any running node, retrying while leaders are elected."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            for node in self.nodes:
                if not node.running:
                    continue
                try:
                    nc = await nats.connect(node.url, connect_timeout=1, allow_reconnect=False)
                except (OSError, nats.errors.Error) as error:
                    last = error
                    continue
                try:
                    return await question(nc.jetstream(timeout=2))
                except (nats.errors.Error, nats.js.errors.Error, TimeoutError) as error:
                    last = error
                finally:
                    await nc.close()
            await asyncio.sleep(0.2)
        raise AssertionError(f"the cluster did not answer within {timeout}s: {last!r}")


async def _stream_leader(js: JetStreamContext, stream: str) -> str:
    info = await js.stream_info(stream)
    if info.cluster is None or not info.cluster.leader:
        raise nats.errors.TimeoutError  # no leader yet: ask again
    return info.cluster.leader


async def _leaders(js: JetStreamContext) -> list[str]:
    return [
        info.cluster.leader if info.cluster and info.cluster.leader else ""
        for info in await js.streams_info()
    ]


async def _replica_state(js: JetStreamContext, stream: str, name: str) -> bool:
    info = await js.stream_info(stream)
    cluster = info.cluster
    if cluster is None:
        return False
    if cluster.leader == name:
        return True
    return any(peer.name == name and peer.current for peer in cluster.replicas or [])


def cluster_log(cluster: NatsCluster) -> str:
    """Every node's log, for a failing test's message."""
    return "\n".join(
        f"--- {node.name}\n{log_tail(node.directory / 'nats.log', 4000)}"
        for node in cluster.nodes
        if (node.directory / "nats.log").exists()
    )


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    cluster = NatsCluster(tmp_path / "cluster").start()
    try:
        yield cluster
    finally:
        cluster.stop()
