"""What the SQL benches share (bench/postgresql.py, bench/mysql.py): the job, the timed
runs through the services, the provider writing the same creates alone (the write
itself, without the services around it), and the report next to the targets.

The runs: a first run, a re-run with nothing to write, a re-run with 1% changed (every
row read and planned), and an incremental run (`--changed-only`) of another 1% changed,
by a twin job whose file has a `modified_at` column (the job's `changes` field): it
reads the changed rows and looks up their objects alone."""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.ldap import define, restart_services, start_services
from bench.targets import verdict, within
from schemas.connections import MysqlConnection, PostgresqlConnection
from schemas.events import RunFinished
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.work import Creates
from services.cli.client import connect
from services.cli.output import Progress
from services.cli.watch import follow_run
from services.common.collector import THRESHOLDS
from services.common.embedded import EmbeddedNats
from services.common.people import FIELDS, write_csv
from services.common.settings import Settings
from services.providers import open_provider
from services.providers.base import AppliesColumns, Layout
from services.providers.sql.pools import close_pools
from tests.sql_servers import Login, SqlProvider, connection_toml, sql_connection

FILES = """\
[files]
provider = "csv"
directory = "."
delimiter = ";"
"""
COLUMNS = ("employee_id", "given_name", "surname", "mail", "department", "title", "groups")
JOB = """\
id = "bench"
source = { connection = "files", file = "people.csv" }
destination = { connection = "db", table = "people" }
batch_size = 5000
[[objects]]
keys = ["employee_id"]
fields = [
  { to = "employee_id" }, { to = "given_name", from = "first_name" },
  { to = "surname", from = "last_name" }, { to = "mail", from = "email" },
  { to = "department" }, { to = "title" }, { to = "groups", delimiter = "|" },
]
"""

INCREMENTAL = (
    JOB.replace('id = "bench"', 'id = "bench-changes"')
    .replace('file = "people.csv"', 'file = "changes.csv"')
    .replace("[[objects]]", 'changes = { field = "modified_at" }\n[[objects]]')
)
"""The job's twin for incremental runs: the same table, from a file with a change field."""
CHANGED_AT = "2026-02-01T00:00:00Z"
"""When the incremental run's rows changed: after every other row's `modified_at`."""


def write_changes_csv(path: Path, rows: list[dict[str, str]], changed: set[int]) -> None:
    """The rows with a `modified_at` each: a second apart, a year before `CHANGED_AT`,
    except the `changed` rows' (their positions)."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow([*FIELDS, "modified_at"])
        for at, row in enumerate(rows):
            moment = start + timedelta(seconds=at)
            when = CHANGED_AT if at in changed else moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            writer.writerow([*(row[field] for field in FIELDS), when])


class Phases(Progress):
    """When a followed run was planned and when its last batch was applied (monotonic)."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.planned = self.applied = 0.0

    def start(self, total: int) -> None:
        super().start(total)
        self.planned = self.applied = time.monotonic()

    def advance(self, amount: int) -> None:
        super().advance(amount)
        self.applied = time.monotonic()


@dataclass(frozen=True)
class Run:
    seconds: float
    """Request → finished."""
    cpu: float
    """The services' processor time over the run (user and system, from /proc): steadier
    than `seconds` on a machine shared with other work."""
    planning: float
    """Request → planned (reading both sides, mapping, planning, storing the plan)."""
    applying: float
    """Planned → the last batch applied (queueing, writing, recording each batch)."""


async def timed_run(
    settings: Settings, job: str, pid: int, changed_only: bool = False
) -> tuple[Run, RunFinished]:
    """The job run through the services (process `pid`), followed to its end."""
    phases = Phases()
    async with connect(settings) as session:
        cpu = processor_time(pid)
        started = time.monotonic()
        _, end = await follow_run(session, job, None, phases, changed_only)
    assert isinstance(end, RunFinished), end
    ended = time.monotonic()
    used = processor_time(pid) - cpu
    planned = phases.planned or ended
    return Run(ended - started, used, planned - started, phases.applied - planned), end


@dataclass(frozen=True)
class Runs:
    first_run: Run
    """The first run (all created)."""
    rerun_run: Run
    """The re-run with nothing to write."""
    some_run: Run
    """The re-run with 1% of the people changed."""
    changed_run: Run
    """The incremental run, another 1% changed."""
    changed: int

    @property
    def first(self) -> float:
        return self.first_run.seconds

    @property
    def rerun(self) -> float:
        return self.rerun_run.seconds

    @property
    def some(self) -> float:
        return self.some_run.seconds

    @property
    def incremental(self) -> float:
        return self.changed_run.seconds


async def three_runs(
    folder: Path, db_toml: str, rows: list[dict[str, str]], csv_path: Path
) -> Runs:
    """A first run of the CSV into the (empty) table of connection `db` (`db_toml`), a
    re-run, one with 1% changed and an incremental one with another 1% changed, each
    checked, through an embedded nats-server and the services as processes."""
    (folder / "connections.toml").write_text(FILES + db_toml)
    nats = EmbeddedNats(folder / "nats")
    services: subprocess.Popen[bytes] | None = None
    try:
        url = nats.start()
        settings = Settings(home=folder / "home", nats_url=url, principal="bench")
        env = {**os.environ, "IDSYNC_NATS_URL": url, "IDSYNC_HOME": str(settings.home)}
        services = start_services(env)
        await define(settings, folder, {"bench": JOB, "bench-changes": INCREMENTAL})
        services = await restart_services(services, env, settings)
        await asyncio.sleep(1.0)  # the services' start-up is not counted
        first_seconds, first = await timed_run(settings, "bench", services.pid)
        rerun_seconds, rerun = await timed_run(settings, "bench", services.pid)
        changed = len(rows) // 100
        step = len(rows) // changed
        for row in rows[::step][:changed]:
            row["department"] = "Changed"
        write_csv(csv_path, rows)
        some_seconds, some = await timed_run(settings, "bench", services.pid)
        # The twin job's full run learns the watermark (nothing to write), then another
        # 1% changes after it.
        write_changes_csv(folder / "changes.csv", rows, set())
        _, learning = await timed_run(settings, "bench-changes", services.pid)
        assert learning.stats.written == 0, learning.stats
        again = set(range(step // 2, len(rows), step)[:changed])
        for at in again:
            rows[at]["department"] = "Changed again"
        write_changes_csv(folder / "changes.csv", rows, again)
        incremental_seconds, incremental = await timed_run(
            settings, "bench-changes", services.pid, True
        )
    finally:
        if services is not None:
            services.send_signal(signal.SIGTERM)
            services.wait(30)
        nats.stop()
    assert first.stats.created == len(rows) and first.stats.failed == 0, first.stats
    assert rerun.stats.written == 0, rerun.stats
    assert (some.stats.updated, some.stats.written) == (changed, changed), some.stats
    assert (incremental.stats.updated, incremental.stats.written) == (changed, changed)
    assert incremental.stats.read == changed + 1, incremental.stats  # and the newest row
    return Runs(first_seconds, rerun_seconds, some_seconds, incremental_seconds, changed)


def creates(rows: list[dict[str, str]]) -> list[Change]:
    """The changes the job's first run plans for the people."""
    return [
        Change(
            action="create",
            key=row["employee_id"],
            match={"employee_id": row["employee_id"]},
            set={
                "employee_id": row["employee_id"],
                "given_name": row["first_name"],
                "surname": row["last_name"],
                "mail": row["email"],
                "department": row["department"],
                "title": row["title"],
                "groups": row["groups"].split("|"),
            },
        )
        for row in rows
    ]


def as_columns(batch: list[Change]) -> Creates:
    """Plain creates as the planner sends them: a column per field, in sorted order."""
    fields = tuple(sorted(batch[0].set))
    columns = [[change.set[name] for change in batch] for name in fields]
    return Creates(key_field="employee_id", fields=fields, columns=columns)


async def provider_write(
    connection: PostgresqlConnection | MysqlConnection, rows: list[dict[str, str]]
) -> float:
    """The provider alone applying the first run's creates into the (empty) table, in
    batches as the work queue holds them (5,000 plain creates a batch, sent as columns),
    each opened as a runner opens it (on the connection pool's connections, made on first
    use) and as many at once as a runner applies (IDSYNC_RUNNER_CONCURRENCY's default):
    the write itself, without planning, the journal or the queue."""
    layout = Layout(keys=("employee_id",), fields=COLUMNS, multi_valued={"groups": "|"})
    endpoint = Endpoint(connection=connection.id, table="people")
    planned = creates(rows)
    batches = [as_columns(planned[at : at + 5000]) for at in range(0, len(planned), 5000)]
    at_once = asyncio.Semaphore(Settings().runner_concurrency)

    async def write(batch: Creates) -> None:
        async with at_once:
            side = open_provider(connection, endpoint, layout)
            await side.open(write=True)
            try:
                assert isinstance(side, AppliesColumns)
                outcomes = await side.apply_columns(batch)
            finally:
                await side.close()
        assert all(outcome.error is None for outcome in outcomes)

    before = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)  # as in the services
    try:
        started = time.perf_counter()
        await asyncio.gather(*(write(batch) for batch in batches))
        return time.perf_counter() - started
    finally:
        gc.set_threshold(*before)
        await close_pools()  # as a runner's stop does


async def alone_and_runs(
    provider: SqlProvider,
    server: Login,
    folder: Path,
    rows: list[dict[str, str]],
    csv_path: Path,
    empty: Callable[[], object],
    count: Callable[[], int],
) -> tuple[float, Runs]:
    """After the bulk load (its rows in the table): the provider alone, then the three
    runs, each into the table `empty` empties; `count` its rows."""
    assert count() == len(rows)
    empty()
    alone = await provider_write(sql_connection(provider, server, folder, "db"), rows)
    assert count() == len(rows)
    empty()
    db = connection_toml(provider, "db", server, folder)
    return alone, await three_runs(folder, db, rows, csv_path)


def report(
    bench: str,
    runs: Runs,
    count: int,
    reference: str,
    reference_seconds: float,
    alone: float,
    second: tuple[str, float] | None = None,
) -> None:
    """The runs next to the bulk load `reference` (and a `second` one: its name and
    seconds), and the re-runs next to the first; the provider writing `alone`, and what
    the services add to it."""
    line("the provider alone, the same creates", alone, count)
    first = runs.first_run
    print(f"{'':44}= {alone / reference_seconds:.2f}x {reference}")
    line("idsync first run (all created)", runs.first, count)
    phases(runs.first_run)
    ratio("first run", runs.first / reference_seconds, reference, 2.0)
    if second is not None:
        print(f"{'':44}= {runs.first / second[1]:.2f}x {second[0]}")
    print(f"{'':44}  the services around the write: {runs.first - alone:.2f} s")
    line("idsync re-run (nothing to write)", runs.rerun, count)
    phases(runs.rerun_run, runs.first_run)
    ratio("re-run", runs.rerun / runs.first, "the first run", 0.5)
    line(f"idsync re-run, 1% changed ({runs.changed:,} updated)", runs.some, count)
    phases(runs.some_run, runs.first_run)
    ratio("1% changed", runs.some / runs.first, "the first run", 0.3)
    line(f"incremental, another 1% ({runs.changed:,} updated)", runs.incremental, count)
    phases(runs.changed_run, runs.first_run)
    ratio("1% changed", runs.incremental / runs.first, "the first run", 0.3)
    into = "PostgreSQL" if bench == "postgresql.py" else "MariaDB"
    verdict(
        within(
            bench,
            f"CSV → {into} first run, {count:,} people",
            first.seconds,
            reference,
            reference_seconds,
            2,
        )
    )
    for what, run, limit in (
        ("re-run, nothing to write", runs.rerun_run, 0.5),
        ("re-run, 1% changed", runs.some_run, 0.3),
        ("incremental run, 1% changed", runs.changed_run, 0.3),
    ):
        verdict(
            within(
                bench,
                f"CSV → {into} {what}",
                run.seconds,
                "the first run",
                first.seconds,
                limit,
                strictly=True,
            )
        )


def phases(run: Run, first: Run | None = None) -> None:
    """When the run was planned and applied, and the services' processor time (next to
    the `first` run's)."""
    rest = run.seconds - run.planning - run.applying
    print(
        f"{'':44}  request → planned {run.planning:.2f} s, batches applied in "
        f"{run.applying:.2f} s, finishing {rest:.2f} s"
    )
    against = f" = {run.cpu / first.cpu:.2f}x the first run's" if first and first.cpu else ""
    print(f"{'':44}  the services' CPU time: {run.cpu:.2f} s{against}")


def processor_time(pid: int) -> float:
    """The processor time a process has used so far (user and system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def line(what: str, seconds: float, count: int) -> None:
    print(f"  {what + ':':42} {seconds:6.2f} s  {count / seconds:>9,.0f} records/s")


def ratio(what: str, value: float, reference: str, target: float) -> None:
    """The targets: a first run within `target`, a re-run under it."""
    within = what == "first run"
    met = "met" if (value <= target if within else value < target) else "NOT met"
    print(f"{'':44}= {value:.2f}x {reference} (target {'≤' if within else '<'} {target}x: {met})")
