"""Each page of the portal with 1,000 jobs and 1,000,000 history rows, next to a
reference measured in the same run: the SQL the page's answer is made of, run straight
on the same database (sqlite3, in this process), or the bucket read it needs.

    .venv/bin/python bench/portal.py [--jobs 1000] [--runs 10000] [--rows 1000000] [--repeat 21]

Starts an embedded nats-server, the recorder and the portal (in this process; no
workflow or runner, so nothing runs). The history is written straight into the
recorder's SQLite database as the recorder writes it (its statements, each run's story
folded by core/runs.py): `--runs` runs spread over the jobs, `--rows` change rows spread
over the runs (100,000 objects). The last 100 runs' events are also put in the
journal, which the recorder records again (the same rows) and the portal reads the
tail of. The jobs go into the jobs bucket. Then one person signs in and each page is
timed as the median of `--repeat` requests over HTTP on loopback (so: an upper bound
of its server time), against the 200 ms target.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec

from core.runs import fold
from schemas.event_ids import finished_id, requested_id
from schemas.events import Event, RunFinished, RunRequested, encode_event
from schemas.history import ChangeRow, HistoryQuery
from schemas.jobs import Job
from schemas.plan import RunStats
from schemas.subjects import event_subject
from services.common import users
from services.common.approvals import waiting
from services.common.client import connect
from services.common.embedded import EmbeddedNats
from services.common.host import run_services
from services.common.settings import Settings
from services.portal.app import URL_FILE
from services.recorder.database import FILE, open_database
from services.recorder.project import CHANGE_COLUMNS, INSERT_CHANGE, INSERT_RUN, change_values
from services.recorder.run_list import runs_sql

TARGET_MS = 200.0
OBJECTS = 100_000
JOURNAL_RUNS = 100
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=8)
"""The first run: a week ago and a little more, well inside the time the history keeps."""
FIELDS = ("mail", "title", "department", "phone", "manager")


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


def run_events(n: int, jobs: int) -> list[Event]:
    run_id = f"{(START + timedelta(minutes=n)).strftime('%Y%m%dT%H%M%SZ')}-{n:06x}"
    job_id, at = f"job-{n % jobs:05d}", START + timedelta(minutes=n)
    return [
        RunRequested(
            run_id=run_id, job_id=job_id, id=requested_id(run_id), requested_by="ada", at=at
        ),
        RunFinished(
            run_id=run_id,
            job_id=job_id,
            id=finished_id(run_id),
            stats=RunStats(read=100, created=100),
            plan_hash="0" * 64,
            seconds=1.0,
            at=at + timedelta(seconds=30),
        ),
    ]


def write_history(path: Path, jobs: int, runs: int, rows: int) -> tuple[str, str, str]:
    """The runs and change rows, as the recorder writes them; a run, a key and a job
    the pages are asked about."""
    encoder = msgspec.json.Encoder()
    per_run = max(rows // runs, 1)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        for n in range(runs):
            story = fold(run_events(n, jobs))[0]
            values = (
                story.run_id,
                story.job_id,
                story.state,
                story.trigger,
                story.requested_by,
                story.requested_at.isoformat() if story.requested_at else None,
                story.approved_by,
                story.plan_hash,
                story.reason,
                story.stats.written,
                story.stats.failed,
                story.duration,
                story.ended_at.isoformat() if story.ended_at else None,
                encoder.encode(story),
            )
            db.execute(INSERT_RUN, values)
            at = (story.ended_at or START).isoformat()
            db.executemany(
                INSERT_CHANGE,
                [
                    change_values(
                        ChangeRow(
                            run_id=story.run_id,
                            job_id=story.job_id,
                            batch=0,
                            n=i,
                            object_type="person",
                            key=f"E{(n * per_run + i) % OBJECTS:06d}",
                            action="update",
                            field=FIELDS[i % len(FIELDS)],
                            old=f"old {i}",
                            new=f"new {n}",
                            at=at,
                        )
                    )
                    for i in range(per_run)
                ],
            )
        (count,) = db.execute("SELECT count(*) FROM changes").fetchone()
        print(f"history: {runs:,} runs, {count:,} change rows, {jobs:,} jobs")
        last = fold(run_events(runs - 1, jobs))[0]
    return last.run_id, f"E{(runs - 1) * per_run % OBJECTS:06d}", last.job_id


async def median_ms(call: Callable[[], Awaitable[object]], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def sql_reference(path: Path) -> Callable[[list[tuple[str, tuple[object, ...]]]], Awaitable[None]]:
    """The statements run straight on the database (sqlite3, in this process)."""
    db = sqlite3.connect(path)

    async def run(statements: list[tuple[str, tuple[object, ...]]]) -> None:
        for sql, values in statements:
            db.execute(sql, values).fetchall()

    return run


def runs_statement(query: HistoryQuery) -> tuple[str, tuple[object, ...]]:
    sql, values = runs_sql(query)
    return f"{sql} LIMIT ? OFFSET 0", (*values, query.limit + 1)


async def main(jobs: int, runs: int, rows: int, repeat: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="idsync-bench-portal-"))
    home = folder / "home"
    server = EmbeddedNats(folder / "nats")
    server.start()
    password = users.add_person(home, "ada", [], system=False)
    path = home / FILE
    made = await open_database(path, write=True)  # the recorder's tables and indexes
    await made.close()
    started = time.perf_counter()
    run_id, key, job_id = write_history(path, jobs, runs, rows)
    print(f"written in {time.perf_counter() - started:.0f} s")
    settings = Settings(home=home, nats_url=server.url, principal="ada", portal_port=0)
    stop, ready = asyncio.Event(), asyncio.Event()
    services = ["recorder", "portal"]
    serving = asyncio.create_task(run_services(services, settings, server.url, stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 60)
        async with connect(settings) as session:
            for n in range(jobs):
                await session.store.put_job(job(n))
            for n in range(runs - JOURNAL_RUNS, runs):
                for event in run_events(n, jobs):
                    await session.js.publish(event_subject(event), encode_event(event))
            url = (settings.home / URL_FILE).read_text().strip()
            sql = sql_reference(path)
            recent = runs_statement(HistoryQuery(what="runs", limit=200))
            latest = runs_statement(HistoryQuery(what="runs", latest=True, limit=jobs + 1000))
            pages: list[tuple[str, str, Callable[[], Awaitable[object]], str]] = [
                ("GET /api/me (no read)", "/api/me", lambda: sql([]), "nothing"),
                ("dashboard GET /", "/", lambda: sql([recent, latest]), "recent + latest SQL"),
                ("GET /api/jobs", "/api/jobs", lambda: sql([recent, latest]), "same SQL"),
                (
                    "GET /api/runs?limit=50",
                    "/api/runs?limit=50",
                    lambda: sql([runs_statement(HistoryQuery(what="runs", limit=50))]),
                    "runs SQL",
                ),
                (
                    f"GET /api/runs?job={job_id}",
                    f"/api/runs?job={job_id}",
                    lambda: sql([runs_statement(HistoryQuery(what="runs", job_id=job_id))]),
                    "runs-of-job SQL",
                ),
                (
                    "run review GET /runs/ID",
                    f"/runs/{run_id}",
                    lambda: sql(
                        [
                            ("SELECT story FROM runs WHERE run_id = ?", (run_id,)),
                            (
                                f"SELECT {CHANGE_COLUMNS} FROM changes WHERE run_id = ? "
                                "ORDER BY batch, n",
                                (run_id,),
                            ),
                        ]
                    ),
                    "story + changes SQL",
                ),
                (
                    "history GET /history?key=K",
                    f"/history?key={key}",
                    lambda: sql(
                        [
                            (
                                f"SELECT {CHANGE_COLUMNS} FROM changes WHERE key = ? "
                                "ORDER BY at DESC, run_id DESC, batch, n LIMIT 1001",
                                (key,),
                            )
                        ]
                    ),
                    "object SQL",
                ),
                ("approvals GET /approvals", "/approvals", lambda: waiting(session.js), "bucket"),
            ]
            async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                signed = await client.post(
                    "/api/signin", json={"user": "ada", "password": password}
                )
                assert signed.status_code == 200, signed.text
                for _ in range(200):  # the recorder has the journal's runs, the watch its jobs
                    listed = (await client.get("/api/runs?limit=1")).json()
                    if listed and listed[0]["run_id"] == run_id:
                        break
                    await asyncio.sleep(0.1)
                assert len((await client.get("/api/jobs")).json()) == jobs
                for name, page, reference, words in pages:

                    async def get(page: str = page) -> None:
                        answer = await client.get(page)
                        assert answer.status_code == 200, answer.text

                    took = await median_ms(get, repeat)
                    base = await median_ms(reference, repeat)
                    met = "met" if took < TARGET_MS else "NOT met"
                    print(
                        f"{name:32} {took:7.1f} ms  (reference, {words}: {base:6.1f} ms; "
                        f"ratio {took / base:5.1f}x)  target {TARGET_MS:.0f} ms: {met}"
                    )
    finally:
        stop.set()
        await asyncio.wait_for(serving, 60)
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=21)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.jobs, arguments.runs, arguments.rows, arguments.repeat))
