"""CSV → Microsoft Entra ID at Graph's write limit, and Entra → SQLite by delta query,
against the tests' Graph (tests/graph_server/, in its own process).

    .venv/bin/python bench/entra.py [--people 10000] [--burst 20]

The tests' Graph throttles the tenant's writes as Graph documents for one app in one
tenant — 3,000 per 150 seconds, 20 a second — with a bucket of `--burst` writes (20: a
second's worth, stricter than Graph's own bucket of 3,000, so any burst over the ceiling
is answered 429). The services run as `idsync serve workflow runner` in their own
process (start-up not counted). Measured in the same run:
  writes  the run creating `--people` users (request → finished), the sustained rate of
          writes Graph accepted (first to last), as a share of the 20/s ceiling;
          every user once (none lost, none doubled), no record failed, Graph's 429s
  delta   after 1% of the users changed: the provider's delta read and an incremental
          run, next to a full read of every user by the same provider
Targets: sustained writes at 90% or more of the ceiling; the delta read under 0.1x the
full read.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.graph_server

from core.checks.job import check_job
from schemas.connections import EntraConnection, SecretRef
from schemas.events import RunFinished
from schemas.jobs import Endpoint
from services.cli.client import connect
from services.cli.watch import follow_run
from services.common.definitions import load_connections, load_job
from services.common.embedded import EmbeddedNats
from services.common.jetstream import wait_for_infrastructure
from services.common.settings import Settings
from services.providers import FACTS, open_provider
from services.providers.base import Layout
from tests.graph_server import GraphServer, Tenant

CEILING = 3000 / 150  # Graph's writes per second for one app in one tenant
TO_ENTRA = """\
id = "to-entra"
source = { connection = "files", file = "people.csv" }
destination = { connection = "cloud" }
[[objects]]
keys = ["employeeId"]
fields = [
  { to = "employeeId", from = "employee_id" },
  { to = "userPrincipalName", from = "upn" },
  { to = "displayName", from = "name" },
  { to = "department" },
  { to = "passwordProfile.password", transform = { password = 16 } },
]
"""
TO_SQLITE = """\
id = "to-sqlite"
source = { connection = "cloud" }
destination = { connection = "db", table = "people" }
changes = {}
[[objects]]
keys = ["employee_id"]
fields = [
  { to = "employee_id", from = "employeeId" },
  { to = "name", from = "displayName" },
  { to = "department" },
]
"""
FIELDS = ("employeeId", "displayName", "department")


def connections(folder: Path, tenant: Tenant) -> str:
    (folder / "secret").write_text(tenant.seeder["secret"])
    server = tenant.server
    return f"""\
[files]
provider = "csv"
directory = "."
[db]
provider = "sqlite"
path = "idsync.db"
[cloud]
provider = "entra"
tenant = "{tenant.domain}"
client_id = "{tenant.seeder["client_id"]}"
secret = {{ file = "{folder / "secret"}" }}
authority = "{server.url}"
graph = "{server.url}"
ca_file = "{server.ca_file}"
"""


async def define(settings: Settings, folder: Path, jobs: dict[str, str]) -> None:
    async with connect(settings) as session:
        await wait_for_infrastructure(session.js)
        for connection in load_connections(folder / "connections.toml"):
            await session.store.put_connection(connection)
        for name, text in jobs.items():
            (folder / f"{name}.toml").write_text(text)
            job = load_job(folder / f"{name}.toml")
            check_job(job, {c.id: c for c in await session.store.connections()}, FACTS)
            await session.store.put_job(job)


async def timed_run(
    settings: Settings, job: str, *, changed_only: bool = False
) -> tuple[float, RunFinished]:
    async with connect(settings) as session:
        started = time.perf_counter()
        _, end = await follow_run(session, job, None, changed_only=changed_only)
    assert isinstance(end, RunFinished), end
    return time.perf_counter() - started, end


def provider_side(folder: Path, tenant: Tenant) -> EntraConnection:
    return EntraConnection(
        id="cloud",
        tenant=tenant.domain,
        client_id=tenant.seeder["client_id"],
        secret=SecretRef(file=str(folder / "secret")),
        authority=tenant.server.url,
        graph=tenant.server.url,
        ca_file=str(tenant.server.ca_file),
    )


async def full_then_link(conn: EntraConnection) -> tuple[float, int, str]:
    side = open_provider(conn, Endpoint(connection="cloud"), Layout(reads=FIELDS))
    await side.open(write=False)
    started = time.perf_counter()
    count = 0
    async for batch in side.read_changed(5000, None, None):  # type: ignore[attr-defined]
        count += len(batch)
    seconds = time.perf_counter() - started
    mark = side.watermark()  # type: ignore[attr-defined]
    await side.close()
    return seconds, count, str(mark)


async def delta_read(conn: EntraConnection, mark: str) -> tuple[float, int]:
    side = open_provider(conn, Endpoint(connection="cloud"), Layout(reads=FIELDS))
    await side.open(write=False)
    started = time.perf_counter()
    count = 0
    async for batch in side.read_changed(5000, mark, None):  # type: ignore[attr-defined]
        count += len(batch)
    seconds = time.perf_counter() - started
    await side.close()
    return seconds, count


def change(tenant: Tenant, users: list[dict[str, object]], share: float) -> int:
    """Renames `share` of the users, as an administrator would (through Graph)."""
    chosen = users[:: int(1 / share)]
    for start in range(0, len(chosen), 20):
        part = chosen[start : start + 20]
        requests = [
            {
                "id": str(n),
                "method": "PATCH",
                "url": f"/users/{u['id']}",
                "body": {"displayName": f"{u['displayName']} (renamed)"},
                "headers": {"Content-Type": "application/json"},
            }
            for n, u in enumerate(part)
        ]
        tenant.graph("POST", "$batch", {"requests": requests})
    return len(chosen)


async def main(count: int, burst: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="idsync-bench-entra-"))
    graph = GraphServer(folder / "graph")
    graph.start()
    tenant = graph.tenant("bench")
    with (folder / "people.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["employee_id", "upn", "name", "department"])
        for i in range(count):
            writer.writerow(
                [f"E{i:06d}", f"p{i:06d}@{tenant.domain}", f"Person {i}", f"Dept {i % 40}"]
            )
    (folder / "connections.toml").write_text(connections(folder, tenant))
    server = EmbeddedNats(folder / "nats")
    url = server.start()
    settings = Settings(home=folder / "home", nats_url=url, principal="bench")
    env = {**os.environ, "IDSYNC_NATS_URL": url, "IDSYNC_HOME": str(settings.home)}
    services = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "serve", "workflow", "runner"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        await define(settings, folder, {"to-entra": TO_ENTRA, "to-sqlite": TO_SQLITE})
        await asyncio.sleep(1.0)  # the services' start-up is not counted
        tenant.throttle(writes=(3000, 150, burst))
        writes_run, created = await timed_run(settings, "to-entra")
        stats = tenant.stats()
        tenant.throttle()  # the administrator's changes and the reads are not the point
        stored = tenant.objects()["user"]
        full_run, copied = await timed_run(settings, "to-sqlite")
        full_read, full_count, mark = await full_then_link(provider_side(folder, tenant))
        changed = change(tenant, stored, 0.01)
        delta_read_s, delta_count = await delta_read(provider_side(folder, tenant), mark)
        delta_run, incremental = await timed_run(settings, "to-sqlite", changed_only=True)
    finally:
        services.send_signal(signal.SIGTERM)
        services.wait(30)
        server.stop()
        graph.stop()

    times = stats["write_times"]
    sustained = (len(times) - 1) / (times[-1] - times[0])
    keys = [u["employeeId"] for u in stored]
    assert created.stats.created == count and created.stats.failed == 0, created.stats
    assert len(keys) == count and len(set(keys)) == count, "a user lost or doubled"
    assert copied.stats.created == count and full_count == count
    assert delta_count == changed and incremental.stats.updated == changed, incremental.stats

    print(f"users: {count:,}   ceiling {CEILING:.0f} writes/s, bucket {burst:g}   ({folder})")
    print("writes (target: sustained at 90% of the ceiling or more)")
    line("run CSV → Entra (request → finished)", writes_run, f"{count / writes_run:6.1f} users/s")
    share = f"{sustained:6.1f} writes/s = {sustained / CEILING:.0%} of the ceiling"
    line("writes Graph accepted, first to last", times[-1] - times[0], share)
    throttled = int(stats.get("throttled", 0))
    print(f"  users in the tenant: {len(keys):,}, each once; failed: {created.stats.failed}")
    print(f"  Graph's 429s, each waited for and the request sent again: {throttled}")
    print(f"delta, {changed} users changed (target: the delta read under 0.1x the full read)")
    line("full read by the provider", full_read, f"({full_count:,} users)")
    line("delta read by the provider", delta_read_s, f"= {delta_read_s / full_read:.3f}x")
    line("full run Entra → SQLite (request → finished)", full_run)
    ratios = f"= {delta_run / full_read:.3f}x the full read, {delta_run / full_run:.3f}x the run"
    line("incremental run (request → finished)", delta_run, ratios)


def line(what: str, seconds: float, more: str = "") -> None:
    print(f"  {what:<46}{seconds:8.2f} s  {more}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--burst", type=float, default=20.0)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.people, arguments.burst))
