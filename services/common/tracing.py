"""OpenTelemetry traces: one trace per run, across the services.

Off unless IDSYNC_OTLP_ENDPOINT names a collector (OTLP over HTTP): then each service
process sends its spans there, and its brokers carry FastStream's telemetry middleware,
which puts the trace context in every message's headers (W3C `traceparent`) and opens a
span for each message handled as the child of the one that published it. A run's
request starts its trace (the workflow answering the command, or the scheduler's fire),
and everything that follows from it — approval, planning, each batch, each provider
call, the recorder's and the notifier's handling — is in that trace.

Off, neither the SDK nor the exporter is imported, no middleware is installed and `span`
is an empty context manager: no cost. Our own spans: `plan` (services/runner/run.py),
`batch` (work.py), `provider apply` (each call of a destination's provider,
services/runner/planning/sides.py) and `provider read` (each batch a side's provider
reads while planning: services/runner/planning/source.py, scoped.py, low_memory.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sized
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from .logging import get_logger

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

    from .settings import Settings

B = TypeVar("B", bound=Sized)
TRACER = "idsync"
log = get_logger("idsync.tracing")

_provider: TracerProvider | None = None
_owned = False
"""The provider was made here (from the settings), so it is shut down here too."""
_tracer: Tracer | None = None


def install(provider: TracerProvider) -> None:
    """Trace into `provider` from now on (a process's own, or a test's)."""
    global _provider, _tracer
    _provider = provider
    _tracer = provider.get_tracer(TRACER)


def start(settings: Settings, names: list[str]) -> bool:
    """Turn tracing on when IDSYNC_OTLP_ENDPOINT is set (or a provider is installed);
    whether it is on."""
    global _owned
    if _provider is not None:
        return True
    if not settings.otlp_endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
    resource = Resource.create({"service.name": "idsync", "idsync.services": ",".join(names)})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    install(provider)
    _owned = True
    log.info("traces sent", endpoint=endpoint)
    return True


def stop() -> None:
    """Send what is left and stop (only a provider made by `start`)."""
    if _provider is not None and _owned:
        _provider.shutdown()
        uninstall()


def uninstall() -> None:
    """Trace no more (a test's provider; `stop` for the process's own)."""
    global _provider, _tracer, _owned
    _provider, _tracer, _owned = None, None, False


def middlewares() -> list[Any]:
    """FastStream's telemetry middleware, when tracing is on (else none)."""
    if _provider is None:
        return []
    from faststream.nats.opentelemetry import NatsTelemetryMiddleware

    return [NatsTelemetryMiddleware(tracer_provider=_provider, include_messages_counters=False)]


def reads(batches: AsyncIterable[B], **attributes: str | int) -> AsyncIterable[B]:
    """A provider's read, a `provider read` span per batch it returns (its `records`);
    `batches` itself when off."""
    if _tracer is None:
        return batches
    return _traced(batches, _tracer, attributes)


async def _traced(
    batches: AsyncIterable[B], tracer: Tracer, attributes: dict[str, str | int]
) -> AsyncIterator[B]:
    iterator = aiter(batches)
    while True:
        with tracer.start_as_current_span("provider read", attributes=attributes) as current:
            try:
                batch = await anext(iterator)
            except StopAsyncIteration:  # the call that found the end
                current.set_attribute("records", 0)
                return
            current.set_attribute("records", len(batch))
        yield batch


@contextmanager
def span(name: str, **attributes: str | int) -> Iterator[None]:
    """A span of ours, the child of the message being handled; nothing when off."""
    if _tracer is None:
        yield
        return
    with _tracer.start_as_current_span(name, attributes=attributes):
        yield
