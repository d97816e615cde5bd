"""The recorder's ingest rate next to the run it records: CSV → SQLite, then history;
and `idsync history KEY`'s question in a large history.

    .venv/bin/python bench/history.py [--people 100000] [--rows 10000000]

Starts an embedded nats-server and the workflow and runner (`idsync serve`, their own
process), times the run that creates every person (request → finished: its apply
rate), then starts the recorder (`idsync serve recorder`) on the journal as it stands
and times until it holds the whole run — every event, and one row per field written
(its ingest rate). Both on the same machine in the same run; the ratio is what counts.

Then the recorder is stopped, `--rows` change rows (ten runs, each changing one field of
every object) are put straight into its database (its own schema and index), the
recorder is started again, and the question `idsync history KEY` asks (every change of
one object, over NATS request/reply, as the command asks) is timed for 21 random
objects: the median, next to the same SELECT made with sqlite3 in this process.

    .venv/bin/python bench/history.py --alongside 3 [--people 100000]

measures instead whether recording slows the run it records: the same first run (the
table removed before it, every person created) with the recorder running alongside it
and without it, alternated (which goes first changes each round), on the same
services, nats-server and machine in the same session. Before a run without it the
recorder is stopped; after that run it is started again and catches up (not timed)
before the next run with it, so each run with the recorder has it idle and caught up
at its start and busy recording during it. Compared: the medians of the run's time
(request → finished) and of the CPU time the workflow and runner spent on it; and how
long after the run finished the recorder held all of it. `--recorder-nice 10` runs the
recorder at a lower scheduling priority (as `nice -n 10`, or systemd's `Nice=10`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from bench.csv_to_sqlite import (
    CONNECTIONS,
    JOB,
    cpu_seconds,
    line,
    measured_run,
    put_job,
    timed_run,
)
from core.errors import NotFound, Unreachable
from core.runs import RunStory
from schemas.history import HistoryQuery
from services.cli.client import connect
from services.common.embedded import EmbeddedNats
from services.common.history_client import ask
from services.common.people import people, write_csv
from services.common.settings import Settings
from services.recorder.database import SCHEMA, path_in

FIELDS = 7
"""Fields the bench's job writes per created person: one history row each."""


def serve(env: dict[str, str], *names: str, nice: int = 0) -> subprocess.Popen[bytes]:
    """`idsync serve NAMES` in a process of its own (`nice`: its scheduling priority)."""
    niced = ["nice", "-n", str(nice)] if nice else []
    return subprocess.Popen(
        [*niced, sys.executable, "-m", "services.cli.main", "serve", *names],
        env=env,
        stderr=subprocess.DEVNULL,
    )


async def recorded(settings: Settings, run_id: str, events: int, rows: int) -> None:
    """Until the recorder holds the run's `events` and `rows`."""
    async with connect(settings) as session:
        while True:
            try:
                reply = await ask(session, HistoryQuery(what="run", run_id=run_id))
                story = msgspec.json.decode(reply.story, type=RunStory)
                if len(story.events) >= events and reply.total >= rows:
                    return
            except (NotFound, Unreachable):
                pass
            await asyncio.sleep(0.05)


RUNS = 10
FIELDS_PER_CHANGE = 1


def fill(path: Path, rows: int) -> list[str]:
    """`rows` change rows in the history database at `path`; the keys."""
    objects = max(1, rows // (RUNS * FIELDS_PER_CHANGE))
    keys = [f"K{n:08d}" for n in range(objects)]
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        for run in range(RUNS):
            run_id = f"20260101T{run // 60:02d}{run % 60:02d}00Z-fill{run:02d}"
            at = f"2026-01-01T{run // 60:02d}:{run % 60:02d}:00+00:00"
            db.executemany(
                "INSERT INTO changes (run_id, batch, n, job_id, object_type, key, action, field, "
                "old, new, container, secret, outcome, error, at) VALUES "
                "(?, 1, ?, 'fill', 'user', ?, 'update', ?, 'a', 'b', '', 0, 'applied', '', ?)",
                (
                    (run_id, n * FIELDS_PER_CHANGE + f, key, f"field{f}", at)
                    for n, key in enumerate(keys)
                    for f in range(FIELDS_PER_CHANGE)
                ),
            )
            db.commit()
    return keys


def direct(path: Path, keys: list[str]) -> float:
    """The median time of the object question made with sqlite3 here (the reference)."""
    times = []
    with sqlite3.connect(path) as db:
        for key in keys:
            started = time.perf_counter()
            db.execute(
                "SELECT * FROM changes WHERE key = ? ORDER BY at DESC, run_id DESC, batch, n "
                "LIMIT 1001",
                (key,),
            ).fetchall()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


async def asked(settings: Settings, keys: list[str]) -> tuple[float, int]:
    """The median time of `idsync history KEY`'s question to the recorder; rows a key."""
    times, found = [], 0
    async with connect(settings) as session:
        while True:  # the recorder is starting
            try:
                await ask(session, HistoryQuery(what="object", key=keys[0]))
                break
            except Unreachable:
                await asyncio.sleep(0.1)
        for key in keys:
            started = time.perf_counter()
            reply = await ask(session, HistoryQuery(what="object", key=key))
            times.append(time.perf_counter() - started)
            found = len(reply.changes)
    return statistics.median(times), found


def prepared(count: int, prefix: str) -> tuple[Path, EmbeddedNats, Settings, dict[str, str]]:
    """A folder with the CSV → SQLite bench's files for `count` people, a server started,
    the settings and the environment the services take."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    write_csv(folder / "people.csv", people(count))
    (folder / "connections.toml").write_text(CONNECTIONS)
    (folder / "job.toml").write_text(JOB)
    server = EmbeddedNats(folder / "nats")
    url = server.start()
    settings = Settings(home=folder / "home", nats_url=url, principal="bench")
    return (
        folder,
        server,
        settings,
        {**os.environ, "IDSYNC_NATS_URL": url, "IDSYNC_HOME": str(settings.home)},
    )


async def main(count: int, rows: int) -> None:
    folder, server, settings, env = prepared(count, "idsync-bench-history-")
    services = serve(env, "workflow", "runner")
    recorder: subprocess.Popen[bytes] | None = None
    try:
        await put_job(settings, folder)
        await asyncio.sleep(1.0)  # start-up is not counted
        run_seconds, end = await timed_run(settings)
        async with connect(settings) as session:
            events = len([e for e in await session.journal() if e.run_id == end.run_id])
        recorder = serve(env, "recorder")
        started = time.perf_counter()
        await recorded(settings, end.run_id, events, count * FIELDS)
        ingest_seconds = time.perf_counter() - started
        recorder.send_signal(signal.SIGTERM)
        recorder.wait(30)
        recorder = None
        started = time.perf_counter()
        keys = await asyncio.to_thread(fill, path_in(settings.home), rows)
        fill_seconds = time.perf_counter() - started
        sample = random.Random(7).sample(keys, 21)
        reference = direct(path_in(settings.home), sample)
        recorder = serve(env, "recorder")
        query, per_key = await asked(settings, sample)
    finally:
        for process in (recorder, services):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
        server.stop()
    assert end.stats.created == count
    print(f"people: {count:,}   ({count * FIELDS:,} fields written; files in {folder})")
    line("run: CSV → SQLite (all created)", run_seconds, count)
    line("recorder: the run's history", ingest_seconds, count)
    print(
        f"{'':40} = {count * FIELDS / ingest_seconds:,.0f} field rows/s; "
        f"{ingest_seconds / run_seconds:.2f}x the run's own time "
        "(recorder start-up included)"
    )
    print(
        f"history of one object among {rows:,} change rows ({per_key} rows a key; "
        f"filled in {fill_seconds:.0f} s):"
    )
    print(
        f"{'  idsync history KEY (request → reply)':40} {query * 1000:8.1f} ms median of 21; "
        f"sqlite3's own SELECT: {reference * 1000:.2f} ms ({query / reference:.0f}x)"
    )


async def caught_up(settings: Settings, run_id: str, count: int) -> float:
    """Seconds until the recorder holds the whole run (its events and rows)."""
    async with connect(settings) as session:
        events = len([e for e in await session.journal() if e.run_id == run_id])
    started = time.perf_counter()
    await recorded(settings, run_id, events, count * FIELDS)
    return time.perf_counter() - started


def history_rows(path: Path) -> int:
    """The change rows the history holds (0: no database yet)."""
    if not path.is_file():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM changes").fetchone()[0])


async def alongside(count: int, rounds: int, nice: int = 0) -> None:
    """The same first run with the recorder running and without it, alternated."""
    folder, server, settings, env = prepared(count, "idsync-bench-history-alongside-")
    services = serve(env, "workflow", "runner")
    recorder: subprocess.Popen[bytes] | None = None
    # side → measure → one figure per round
    figures: dict[str, dict[str, list[float]]] = {
        side: {"wall": [], "cpu": [], "recorder cpu": [], "lag": []} for side in ("with", "without")
    }
    try:
        await put_job(settings, folder)
        await asyncio.sleep(1.0)  # start-up is not counted
        for round_ in range(rounds):
            order = ("without", "with") if round_ % 2 == 0 else ("with", "without")
            for side in order:
                if side == "with" and recorder is None:
                    recorder = serve(env, "recorder", nice=nice)
                    await asyncio.sleep(2.0)  # its start-up, not counted
                if side == "without" and recorder is not None:
                    recorder.send_signal(signal.SIGTERM)
                    recorder.wait(30)
                    recorder = None
                (folder / "idsync.db").unlink(missing_ok=True)
                held = history_rows(path_in(settings.home))
                before = cpu_seconds(recorder.pid) if recorder is not None else 0.0
                wall, cpu, end = await measured_run(settings, services.pid)
                assert end.stats.created == count, end.stats
                if recorder is None:  # it records this run afterwards, before the next
                    recorder = serve(env, "recorder", nice=nice)
                    await caught_up(settings, end.run_id, count)
                    recorder_cpu, lag = 0.0, 0.0
                else:
                    recorder_cpu = cpu_seconds(recorder.pid) - before
                    lag = await caught_up(settings, end.run_id, count)
                for measure, value in (
                    ("wall", wall),
                    ("cpu", cpu),
                    ("recorder cpu", recorder_cpu),
                    ("lag", lag),
                ):
                    figures[side][measure].append(value)
                print(
                    f"round {round_ + 1} {side:>7} the recorder: {wall:6.2f} s, services' CPU "
                    f"{cpu:6.2f} s, recorder's CPU during the run {recorder_cpu:5.2f} s, "
                    f"recorder done {lag:5.2f} s after the run; history {held:,} rows before",
                    flush=True,
                )
    finally:
        for process in (recorder, services):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
        server.stop()
    print(
        f"people: {count:,}   rounds: {rounds}   ({count * FIELDS:,} field rows a run)"
        + (f"   the recorder at nice {nice}" if nice else "")
    )
    print(f"machine: {os.cpu_count()} CPUs; medians, with the recorder running / without:")
    for measure, label in (("wall", "request → finished"), ("cpu", "workflow+runner CPU")):
        without = statistics.median(figures["without"][measure])
        with_ = statistics.median(figures["with"][measure])
        ratio = with_ / without
        print(
            f"  {label + ':':22} without {without:6.2f} s   with {with_:6.2f} s   "
            f"= {ratio:.3f}x ({(ratio - 1) * 100:+.1f}%)"
        )
    print(
        f"  the recorder's CPU during the run (median): "
        f"{statistics.median(figures['with']['recorder cpu']):.2f} s; it held the whole run "
        f"{statistics.median(figures['with']['lag']):.2f} s after the run finished (median)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000, help="how many (default 100,000)")
    parser.add_argument(
        "--rows", type=int, default=10_000_000, help="change rows asked in (default 10,000,000)"
    )
    parser.add_argument(
        "--alongside",
        type=int,
        metavar="ROUNDS",
        help="measure instead the run with the recorder running and without, ROUNDS each",
    )
    parser.add_argument(
        "--recorder-nice", type=int, default=0, help="--alongside: the recorder's nice value"
    )
    args = parser.parse_args()
    if args.alongside:
        asyncio.run(alongside(args.people, args.alongside, args.recorder_nice))
    else:
        asyncio.run(main(args.people, args.rows))
