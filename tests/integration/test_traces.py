"""Traces: one trace per run across the services over a real nats-server, the trace
context carried in the messages' headers — caught by the OpenTelemetry SDK's in-memory
exporter, and sent by OTLP over HTTP to a collector when IDSYNC_OTLP_ENDPOINT names one."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.cli.client import Session
from services.common import tracing
from services.common.embedded import EmbeddedNats
from services.common.host import run_services
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices, apply_files, started
from .test_flow import run_job


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    yield exporter
    tracing.uninstall()


def named(found: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in found if span.name == name]


async def test_a_run_is_one_trace_across_the_services(
    files: Files, session: Session, services: RunServices, spans: InMemorySpanExporter
) -> None:
    files.write(count=120, batch_size=50)
    await apply_files(session, files)
    handled = f"idsync.run.finished.{JOB_ID} process"
    async with services():
        end = await run_job(session)
        # The recorder, the notifier and the workflow's steps handle run.finished too.
        deadline = time.monotonic() + 30
        while len(named(spans.get_finished_spans(), handled)) < 3:
            assert time.monotonic() < deadline, "run.finished was not handled three times"
            await asyncio.sleep(0.05)
    found = spans.get_finished_spans()
    plan, batches, calls = (
        named(found, "plan"),
        named(found, "batch"),
        named(found, "provider apply"),
    )
    assert len(plan) == 1 and len(batches) == 3 and len(calls) == 3  # 120 records by 50
    assert plan[0].attributes == {"job_id": JOB_ID, "run_id": end.run_id}
    assert {b.attributes["batch"] for b in batches if b.attributes} == {1, 2, 3}
    assert {c.attributes["provider"] for c in calls if c.attributes} == {"sqlite"}
    trace = plan[0].context.trace_id
    # Each provider call inside its batch, each batch and the plan in the run's trace.
    by_id = {span.context.span_id: span for span in found}
    for call in calls:
        assert call.parent is not None and by_id[call.parent.span_id].name == "batch"
    # Planning read both sides, each read of a batch a span inside the plan's.
    reads = named(found, "provider read")
    assert {r.attributes["side"] for r in reads if r.attributes} == {"source", "destination"}
    for read in reads:
        assert read.parent is not None and read.parent.span_id == plan[0].context.span_id
    source_read = sum(
        int(str(r.attributes["records"]))
        for r in reads
        if r.attributes and r.attributes["side"] == "source"
    )
    assert source_read == 120
    assert {span.context.trace_id for span in [*plan, *batches, *calls]} == {trace}
    # Every message of the run, published or handled in any service, is in that trace:
    # FastStream's spans are named "<subject> publish" and "<subject> process".
    messages = [s for s in found if s.name.startswith(("idsync.run.", "idsync.work."))]
    assert {span.context.trace_id for span in messages} == {trace}
    names = {span.name for span in messages}
    for kind in ("requested", "approved", "started", "planned", "batch-applied", "finished"):
        assert f"idsync.run.{kind}.{JOB_ID} publish" in names, kind
    for subject in (f"idsync.run.approved.{JOB_ID}", f"idsync.work.{JOB_ID}"):
        assert f"{subject} process" in names, subject
    # run.finished handled by the recorder, the notifier and the workflow's steps.
    assert len(named(found, handled)) >= 3
    # The trace starts where the run was asked for: the command the workflow received
    # (the command line sends no trace context: FastStream opens the trace there).
    (root,) = [span for span in found if span.context.trace_id == trace and span.parent is None]
    assert root.name == "idsync.cmd.tester.run create"


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector on loopback that keeps what it is sent."""

    received: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        Collector.received.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_traces_go_to_the_otlp_endpoint_named(
    files: Files,
    session: Session,
    settings: Settings,
    nats_server: EmbeddedNats,
    collector: str,
    tmp_path: Path,
) -> None:
    files.write(count=20)
    await apply_files(session, files)
    traced = msgspec.structs.replace(settings, otlp_endpoint=collector)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run_services(("workflow", "runner"), traced, nats_server.url, stop, ready)
    )
    await started(task, ready)
    try:
        end = await run_job(session)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)  # the stop sends what is left
    names = {
        span.name: span
        for request in Collector.received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    }
    assert {"plan", "batch", "provider apply"} <= set(names), sorted(names)
    plan = names["plan"]
    assert {a.key: a.value.string_value for a in plan.attributes} == {
        "job_id": JOB_ID,
        "run_id": end.run_id,
    }
    assert names["batch"].trace_id == plan.trace_id
    services = {
        a.value.string_value
        for request in Collector.received
        for resource in request.resource_spans
        for a in resource.resource.attributes
        if a.key == "service.name"
    }
    assert services == {"idsync"}
    assert tracing.middlewares() == [], "tracing stops with the services"
