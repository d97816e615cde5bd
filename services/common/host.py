"""Runs services — one (`idsync serve runner`) or all (`idsync up`) — in this process."""

from __future__ import annotations

import asyncio
import gc
import importlib
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from typing import Any, Protocol

from faststream.nats import NatsBroker

from . import credentials, health, metrics, tracing
from .bus import Bus, make_broker, server_of
from .collector import THRESHOLDS
from .consumers import keep_alive, pace
from .credentials import Credentials, tls_context
from .jetstream import (
    ensure_infrastructure,
    ensure_site,
    patiently,
    wait_for_infrastructure,
    wait_for_site,
)
from .logging import get_logger
from .nats_health import NatsHealth
from .run_logs import RUN_LOGS, ship
from .settings import Settings

Background = Callable[[], Coroutine[Any, Any, None]]
STOP_WAIT = 5.0
"""Seconds a stop waits for background loops, then for the broker (each)."""

log = get_logger("idsync.host")


class Register(Protocol):
    def __call__(self, broker: NatsBroker, bus: Bus) -> list[Background]: ...


def registrar(name: str) -> Register:
    module = importlib.import_module(f"services.{name}.app")
    register: Register = module.register
    return register


class ServiceHost:
    """The named services on one broker in this process."""

    def __init__(
        self,
        names: Sequence[str],
        settings: Settings,
        url: str,
        credentials: Credentials | None = None,
    ) -> None:
        self.names = list(names)
        self.settings = settings
        self.url = url
        nats_health = NatsHealth()
        broker = make_broker(
            url,
            credentials,
            tls_context(settings),
            [*_middlewares(settings), *tracing.middlewares()],
            nats_health,
            settings.js_domain,
        )
        self.bus = Bus(broker, settings, nats_health)
        self.started = False
        """Connected, every stream and consumer there, the subscribers bound."""
        # Only the workflow may manage streams and consumers once users have permissions;
        # the other services wait until it has (anonymous, any service may).
        # A site's runner never does: it may run another version's settings far away.
        self.anonymous = credentials is None
        self.steward = (self.anonymous and not settings.site) or "workflow" in self.names
        self._backgrounds = [
            task for name in names for task in registrar(name)(self.bus.broker, self.bus)
        ]

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        """Connect, make sure every stream, consumer and bucket exists, start the
        subscribers and background loops, and run until `stop` is set."""
        gc.set_threshold(*THRESHOLDS)
        broker = self.bus.broker
        await broker.connect()
        self.bus.health.connected(server_of(broker))
        try:
            js, settings = self.bus.js, self.settings
            if self.steward:
                await patiently(partial(ensure_infrastructure, js, settings), "the set-up")
            else:
                await wait_for_infrastructure(js)
            if self.steward:
                for named in sorted({c.site for c in await self.bus.store.connections()} - {""}):
                    await patiently(partial(ensure_site, js, settings, named), f"site {named}")
            site = settings.site
            if site and "runner" in self.names:
                if self.anonymous:
                    await patiently(partial(ensure_site, js, settings, site), f"site {site}")
                else:
                    await wait_for_site(js, site)
            await broker.start()
            for subscriber, _ in self.bus.watched:
                pace(subscriber)
            tasks = [asyncio.create_task(run()) for run in self._backgrounds]
            tasks.append(asyncio.create_task(keep_alive(self.bus, self.settings.liveness_interval)))
            RUN_LOGS.runner = self.settings.runner_id
            tasks.append(asyncio.create_task(ship(self.bus.js)))  # runs' log lines, if any
            # A round trip: the server has every subscription before anyone is told "ready".
            await broker.connection.flush()
            self.started = True
            log.info("services started", services=self.names, nats=self.url)
            if ready is not None:
                ready.set()
            await stop.wait()
            self.started = False
            for task in tasks:
                task.cancel()
            _, stuck = await asyncio.wait(tasks, timeout=STOP_WAIT)
            if stuck:  # a loop that ignores cancellation must not keep the process up
                log.warning("background tasks still running at stop", tasks=len(stuck))
        finally:
            self.started = False
            try:
                await asyncio.wait_for(broker.stop(), STOP_WAIT)
            except TimeoutError:
                log.warning("the broker did not stop in time; leaving anyway", after=STOP_WAIT)
            for close in self.bus.at_stop:  # no handler runs any more
                try:
                    await close()
                except Exception as e:
                    log.warning("could not close at stop", error=str(e) or type(e).__name__)
            log.info("services stopped", services=self.names)

    def missing(self) -> list[str]:
        """What keeps these services from being ready (empty: ready)."""
        names = ", ".join(self.names)
        if not self.started:
            return [f"{names}: not started (connecting to NATS, binding consumers)"]
        if not self.bus.broker.connection.is_connected:
            return [f"{names}: not connected to NATS (reconnecting)"]
        if (problem := self.bus.health.problem) is not None:  # a cluster without quorum
            return [f"{names}: {problem}"]
        return []


def _middlewares(settings: Settings) -> list[Any]:
    """FastStream's message metrics, when the metrics are on (else none: no cost)."""
    if settings.metrics_port is None:
        return []
    from faststream.nats.prometheus import NatsPrometheusMiddleware

    return [
        NatsPrometheusMiddleware(
            registry=metrics.REGISTRY, app_name="idsync", metrics_prefix="idsync_messaging"
        )
    ]


async def run_services(
    names: Sequence[str],
    settings: Settings,
    url: str,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
) -> None:
    """Run the named services in this process until `stop` is set: one connection per
    identity (each service with its own credentials when it has some)."""
    groups: dict[Credentials | None, list[str]] = {}
    for name in names:
        groups.setdefault(credentials.for_service(settings, name), []).append(name)
    if settings.metrics_port is not None:
        metrics.enable()
    tracing.start(settings, list(names))
    try:
        await _serve(settings, groups, url, stop, ready)
    finally:
        tracing.stop()


async def _serve(
    settings: Settings,
    groups: dict[Credentials | None, list[str]],
    url: str,
    stop: asyncio.Event,
    ready: asyncio.Event | None,
) -> None:
    if settings.metrics_port is None:
        hosts = [ServiceHost(group, settings, url, who) for who, group in groups.items()]
        await _run_hosts(hosts, stop, ready)
        return
    listener = health.listen(settings)
    hosts = [ServiceHost(group, settings, url, who) for who, group in groups.items()]

    def missing() -> list[str]:
        return [problem for host in hosts for problem in host.missing()]

    serving = asyncio.create_task(health.serve(settings, listener, missing, stop))
    try:
        await _run_hosts(hosts, stop, ready)
    finally:
        stop.set()
        await serving


async def _run_hosts(
    hosts: list[ServiceHost], stop: asyncio.Event, ready: asyncio.Event | None
) -> None:
    if len(hosts) == 1:
        await hosts[0].run(stop, ready)
        return
    readies = [asyncio.Event() for _ in hosts]

    async def one(host: ServiceHost, started: asyncio.Event) -> None:
        try:
            await host.run(stop, started)
        except BaseException:
            stop.set()  # one service failing stops the others: nothing half up
            raise

    async def all_started() -> None:
        for started in readies:
            await started.wait()
        if ready is not None:
            ready.set()

    waiter = asyncio.create_task(all_started())
    try:
        await asyncio.gather(
            *(one(host, started) for host, started in zip(hosts, readies, strict=True))
        )
    finally:
        waiter.cancel()
