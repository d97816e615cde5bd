"""Metrics and health, as an operator sees them: the services' /metrics, /healthz and
/readyz on IDSYNC_METRICS_PORT over a real nats-server, a run counted there, every metric
deploy/'s dashboard and alerts use exported, and `idsync doctor` reading /readyz."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.errors import BadInput
from schemas.events import RunDeliveryFailed, RunFailed, RunFinished, is_end
from services.cli.client import Session
from services.common.embedded import EmbeddedNats
from services.common.host import run_services
from services.common.settings import METRICS_URL_FILE, Settings
from tests.deploy_files import metric_names_used

from .conftest import IDSYNC, JOB_ID, Files, RunServices, apply_files, env_for
from .journal import wait_for_event
from .test_delivery import locked
from .test_flow import run_job

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}


@pytest.fixture
def settings(nats_server: EmbeddedNats, tmp_path: Path) -> Settings:
    """The services serve their metrics on a free port, and beat and look often."""
    return Settings(
        home=tmp_path / "home",
        nats_url=nats_server.url,
        principal="tester",
        runner_id="test-runner",
        ack_wait=3.0,
        max_deliver=5,
        retry_delay=0.3,
        scheduler_tick=0.1,
        heartbeat_interval=0.2,
        liveness_interval=0.3,
        metrics_port=0,
    )


class Scrape:
    def __init__(self, text: str) -> None:
        self.exported: set[str] = set()
        self.samples: Samples = {}
        for family in text_string_to_metric_families(text):
            self.exported.add(family.name)
            self.exported.update(family.name + s for s in SUFFIXES.get(family.type, ()))
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named so whose labels include `labels` (0 if none)."""
        wanted = set(labels.items())
        return sum(v for (n, got), v in self.samples.items() if n == name and wanted <= got)


def metrics_url(settings: Settings) -> str:
    return (settings.home / METRICS_URL_FILE).read_text().strip()


async def scrape(url: str) -> Scrape:
    async with httpx.AsyncClient(timeout=5) as client:
        answer = await client.get(f"{url}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return Scrape(answer.text)


async def scrape_until(url: str, done: Callable[[Scrape], bool], seconds: float = 15) -> Scrape:
    """Scrape until `done` says so (a figure another loop sets), failing after `seconds`."""
    for _ in range(int(seconds / 0.1)):
        scraped = await scrape(url)
        if done(scraped):
            return scraped
        await asyncio.sleep(0.1)
    return scraped


async def test_a_run_is_counted_and_every_metric_deploy_uses_is_exported(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    rows = files.write(count=120, batch_size=50)
    await apply_files(session, files)
    async with services():
        url = metrics_url(settings)
        async with httpx.AsyncClient(timeout=5) as client:
            alive = await client.get(f"{url}/healthz")
            ready = await client.get(f"{url}/readyz")
        assert alive.status_code == 200 and alive.json() == {"status": "alive"}
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        # The figures accumulate in the process: what this run adds is compared.
        before = await scrape(url)
        end = await run_job(session)
        after = await scrape_until(
            url,
            lambda s: (
                s.value("idsync_runners_alive") == 1
                and s.value("idsync_phase_duration_seconds_count", phase="apply")
                > before.value("idsync_phase_duration_seconds_count", phase="apply")
                # A gauge set each time the consumers are looked at: one look after the run.
                and ("idsync_consumer_pending_messages", frozenset({("consumer", "runner-work")}))
                in s.samples
                and s.value("idsync_consumer_pending_messages", consumer="runner-work") == 0
            ),
        )
        doctor = await asyncio.to_thread(
            subprocess.run,
            [*IDSYNC, "doctor"],
            env=env_for(settings),
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert not (settings.home / METRICS_URL_FILE).exists(), "stopped: its URL is gone"

    def added(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert end.stats.created == 120
    job = {"job_id": JOB_ID}
    assert added("idsync_runs_total", **job, outcome="finished") == 1
    assert added("idsync_runs_total", **job, outcome="failed") == 0
    assert added("idsync_records_total", **job, action="create", result="applied") == 120
    assert added("idsync_records_total", **job, result="failed") == 0
    assert added("idsync_run_duration_seconds_count", **job) == 1
    assert added("idsync_run_duration_seconds_sum", **job) == pytest.approx(end.seconds, abs=0.01)
    assert added("idsync_phase_duration_seconds_count", **job, phase="plan") == 1
    assert added("idsync_phase_duration_seconds_count", **job, phase="apply") == 1
    assert added("idsync_batch_apply_duration_seconds_count", **job) == 3  # 120 by 50
    assert after.value("idsync_last_success_timestamp_seconds", **job) == pytest.approx(
        end.at.timestamp()
    )
    assert added("idsync_dead_letters_total") == 0
    assert after.value("idsync_runners_alive") == 1
    assert after.value("idsync_consumer_pending_messages", consumer="runner-work") == 0
    assert after.value("idsync_ready") == 1
    # FastStream's own: each batch handled by the runner, acknowledged.
    handled = "idsync_messaging_received_processed_messages_total"
    assert added(handled, status="acked") >= 3 + 1  # the batches and the approval, at least
    # No label takes a record's key or a run's id.
    keys = {row["employee_id"] for row in rows}
    for _, labels in after.samples:
        for _, value in labels:
            assert end.run_id not in value and value not in keys

    missing = metric_names_used() - after.exported
    assert not missing, f"deploy/ uses metrics no service exports: {sorted(missing)}"

    assert f"✓ services at {url}: ready" in doctor.stdout, doctor.stdout + doctor.stderr


async def test_readiness_says_when_nats_is_gone_and_doctor_says_so(
    files: Files,
    session: Session,
    services: RunServices,
    settings: Settings,
    nats_server: EmbeddedNats,
) -> None:
    async with services("workflow"):
        url = metrics_url(settings)
        nats_server.stop()
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                for _ in range(100):
                    ready = await client.get(f"{url}/readyz")
                    if ready.status_code != 200:
                        break
                    await asyncio.sleep(0.1)
                alive = await client.get(f"{url}/healthz")
            scraped = await scrape(url)
        finally:
            nats_server.start(port=nats_server.port)
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "not ready",
            "missing": ["workflow: not connected to NATS (reconnecting)"],
        }
        assert alive.status_code == 200  # alive all the same: it reconnects by itself
        assert scraped.value("idsync_ready") == 0
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(100):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await client.get(f"{url}/readyz")).status_code == 200


async def test_doctor_names_a_service_that_does_not_answer(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    nobody = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback
    doctor = await asyncio.to_thread(
        subprocess.run,
        [*IDSYNC, "doctor"],
        env=env_for(settings, IDSYNC_HEALTH_URLS=nobody),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"✗ services at {nobody}: do not answer" in doctor.stdout, doctor.stdout
    assert doctor.returncode == 6


async def test_a_passing_error_and_a_failed_run_are_counted_by_kind(
    files: Files,
    session: Session,
    services: RunServices,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "0.05")
    files.write(count=30)
    await apply_files(session, files)
    files.db.parent.mkdir(parents=True, exist_ok=True)
    async with services("workflow", "runner"):
        url = metrics_url(settings)
        before = await scrape(url)
        with locked(files.db):  # another program holds the destination's write lock
            run_id = await session.request_run(JOB_ID)
            await wait_for_event(
                session, lambda e: isinstance(e, RunDeliveryFailed) and e.run_id == run_id
            )
        retried = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
        files.csv.unlink()  # the next run cannot read its source: it fails while planning
        failed_id = await session.request_run(JOB_ID)
        failed = await wait_for_event(session, lambda e: is_end(e) and e.run_id == failed_id)
        after = await scrape_until(
            url, lambda s: s.value("idsync_runs_total", outcome="failed") > 0
        )

    def added(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert isinstance(retried, RunFinished) and isinstance(failed, RunFailed)
    job = {"job_id": JOB_ID}
    assert added("idsync_runs_total", **job, outcome="finished") == 1
    assert added("idsync_runs_total", **job, outcome="failed") == 1
    assert added("idsync_provider_errors_total", stage="apply", kind="transient") >= 1
    assert added("idsync_provider_errors_total", stage="plan", kind="bad_input") == 1
    assert added("idsync_redeliveries_total", consumer="runner-work") >= 1
    assert added("idsync_records_total", **job, action="create", result="applied") == 30


async def test_a_metrics_port_in_use_stops_the_services_at_their_start_saying_so(
    settings: Settings,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        busy = msgspec.structs.replace(settings, metrics_port=port)
        with pytest.raises(BadInput, match=f"cannot serve the metrics on 127.0.0.1:{port}"):
            await run_services(
                ("workflow",), busy, settings.nats_url or "", asyncio.Event(), asyncio.Event()
            )
