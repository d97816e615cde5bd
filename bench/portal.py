"""The portal's pages and API next to what they cannot do without: reading the same jobs
and journal straight from NATS in this process.

    .venv/bin/python bench/portal.py [--jobs 1000] [--runs 5000] [--repeat 21]

Starts an embedded nats-server and the portal alone (in this process; no workflow or
runner, so the runs put in the journal stay as they are), stores `--jobs` jobs and, for
`--runs` runs spread over them, a `run.requested` and a `run.finished` each; signs in
and times, as medians of `--repeat` requests, the dashboard (`GET /`), `GET /api/jobs`
and `GET /api/runs?limit=50` — each next to the reference: the bucket and journal reads
and the fold (core/runs.py) the answer is made of, timed the same way. The ratio is
what the portal adds (HTTP, sign-in check, rendering).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import msgspec

from core.runs import fold
from schemas.event_ids import finished_id, requested_id
from schemas.events import RunFinished, RunRequested, encode_event
from schemas.ids import new_run_id
from schemas.jobs import Job
from schemas.plan import RunStats
from schemas.subjects import event_subject
from services.common import users
from services.common.client import connect
from services.common.embedded import EmbeddedNats
from services.common.host import run_services
from services.common.settings import Settings
from services.portal.app import URL_FILE


def job(n: int) -> Job:
    return msgspec.convert(
        {
            "id": f"job-{n:05d}",
            "title": f"Job number {n}",
            "source": {"connection": "hr", "file": "people.csv"},
            "destination": {"connection": "db", "table": "people"},
            "objects": [{"keys": ["employee_id"], "fields": [{"to": "employee_id"}]}],
        },
        Job,
    )


async def median_ms(call: Callable[[], Awaitable[object]], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def main(jobs: int, runs: int, repeat: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="idsync-bench-portal-"))
    server = EmbeddedNats(folder / "nats")
    server.start()
    password = users.add_person(folder / "home", "ada", [], system=False)
    settings = Settings(home=folder / "home", nats_url=server.url, principal="ada", portal_port=0)
    stop, ready = asyncio.Event(), asyncio.Event()
    serving = asyncio.create_task(run_services(["portal"], settings, server.url, stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        async with connect(settings) as session:
            for n in range(jobs):
                await session.store.put_job(job(n))
            for n in range(runs):
                run_id, job_id = new_run_id(), f"job-{n % jobs:05d}"
                for event in (
                    RunRequested(
                        run_id=run_id, job_id=job_id, id=requested_id(run_id), requested_by="ada"
                    ),
                    RunFinished(
                        run_id=run_id,
                        job_id=job_id,
                        id=finished_id(run_id),
                        stats=RunStats(read=10, created=10),
                        plan_hash="0" * 64,
                        seconds=1.0,
                    ),
                ):
                    await session.js.publish(event_subject(event), encode_event(event))

            async def jobs_read() -> None:
                await session.store.jobs()
                fold(await session.journal())

            async def runs_read() -> None:
                fold(await session.journal())[-50:]

            url = (settings.home / URL_FILE).read_text().strip()
            async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                signed = await client.post(
                    "/api/signin", json={"user": "ada", "password": password}
                )
                assert signed.status_code == 200, signed.text
                reference_jobs = await median_ms(jobs_read, repeat)
                reference_runs = await median_ms(runs_read, repeat)
                for name, path, reference in (
                    ("dashboard GET /", "/", reference_jobs),
                    ("GET /api/jobs", "/api/jobs", reference_jobs),
                    ("GET /api/runs?limit=50", "/api/runs?limit=50", reference_runs),
                ):

                    async def get(path: str = path) -> None:
                        answer = await client.get(path)
                        assert answer.status_code == 200, answer.text

                    took = await median_ms(get, repeat)
                    print(
                        f"{name:26} {took:8.1f} ms  (reference: the reads and fold "
                        f"{reference:7.1f} ms; ratio {took / reference:4.2f}) "
                        f"— {jobs} jobs, {runs} runs"
                    )
    finally:
        stop.set()
        await asyncio.wait_for(serving, 30)
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=21)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.jobs, arguments.runs, arguments.repeat))
