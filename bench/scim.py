"""CSV → a SCIM service through the running services, next to a plain client loop.

    .venv/bin/python bench/scim.py [--full]

Starts scim2-server (tests/scim_server.py: in memory, a free loopback port, stopped at
the end), an embedded nats-server and the services, and times in the same run against
the same server, each into an empty tenant of its own:
  reference     a plain loop of the same requests: one POST /Users per person, each
                awaited before the next (httpx, one keep-alive client)
  with bulk     the idsync run that creates everyone (request → finished), through /Bulk
  without bulk  the same with `bulk = false`: one POST each, `concurrency` (4) in flight
  re-run        the same job again, nothing to write (a full read of the service)
  1% changed    a department changed in 1% of the people (PATCHes)
Quick by default (2,000 people); --full: 10,000.

Then the SCIM endpoint (services/scim_endpoint): one user pushed with `POST /Users?wait=`,
answered once its run has applied it (into SQLite), 21 times — each push a new
department, so each run writes — and its median next to the same run asked for by a
person (`idsync job run JOB --key KEY --wait`: the command, the workflow, planning,
applying; the record as pushed last, so nothing to write). A system's requests wait out
IDSYNC_MERGE_WINDOW to be merged; it is set to 0.1 s here (2 s by default).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.*, bench.*

import httpx

from bench.ldap import define, start_services, timed_run
from schemas.events import RunFinished
from services.cli.client import connect
from services.cli.watch import follow_run
from services.common import users
from services.common.embedded import EmbeddedNats
from services.common.people import people, write_csv
from services.common.settings import Settings
from tests.scim_server import TOKEN, ScimServer, require_server

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
JOB = f"""\
id = "{{name}}"
source = {{{{ connection = "files", file = "people.csv" }}}}
destination = {{{{ connection = "{{name}}" }}}}
batch_size = 1000
[[objects]]
keys = ["userName"]
fields = [
  {{{{ to = "userName", from = "employee_id" }}}},
  {{{{ to = "name.givenName", from = "first_name" }}}},
  {{{{ to = "name.familyName", from = "last_name" }}}},
  {{{{ to = 'emails[type eq "work"].value', from = "email" }}}},
  {{{{ to = "title" }}}},
  {{{{ to = "{ENTERPRISE}:department", from = "department" }}}},
]
"""


def user(row: dict[str, str]) -> dict[str, object]:
    """The resource idsync creates for a row: the reference loop sends the same."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": row["employee_id"],
        "name": {"givenName": row["first_name"], "familyName": row["last_name"]},
        "emails": [{"type": "work", "value": row["email"]}],
        "title": row["title"],
        ENTERPRISE: {"department": row["department"]},
    }


async def plain_loop(url: str, rows: list[dict[str, str]]) -> float:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        started = time.perf_counter()
        for row in rows:
            answer = await http.post("/Users", json=user(row))
            assert answer.status_code == 201, answer.text
        return time.perf_counter() - started


def connections(folder: Path, urls: dict[str, str]) -> str:
    token = folder / "scim-token"
    token.write_text(TOKEN + "\n")
    text = '[files]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ";"\n'
    for name, url in urls.items():
        bulk = "false" if name == "nobulk" else "true"
        text += f'\n[{name}]\nprovider = "scim"\nurl = "{url}"\n'
        text += f'token = {{ file = "{token}" }}\nbulk = {bulk}\n'
    return text


def line(what: str, seconds: float, count: int, against: float | None = None) -> None:
    ratio = f"  = {seconds / against:.2f}x the plain loop" if against else ""
    print(f"  {what + ':':40} {seconds:6.2f} s {count / seconds:>8,.0f} users/s{ratio}")


async def main(count: int) -> None:
    require_server()
    with tempfile.TemporaryDirectory(prefix="idsync-bench-scim-") as tmp:
        folder = Path(tmp)
        server = ScimServer(folder / "scim")
        nats = EmbeddedNats(folder / "nats")
        services: subprocess.Popen[bytes] | None = None
        try:
            server.start()
            rows = people(count)
            write_csv(folder / "data" / "people.csv", rows)
            reference = await plain_loop(server.new_tenant(), rows)
            urls = {"bulk": server.new_tenant(), "nobulk": server.new_tenant()}
            (folder / "connections.toml").write_text(connections(folder, urls))
            url = nats.start()
            settings = Settings(home=folder / "home", nats_url=url, principal="bench")
            env = {**os.environ, "IDSYNC_NATS_URL": url, "IDSYNC_HOME": str(settings.home)}
            services = start_services(env)
            await define(settings, folder, {n: JOB.format(name=n) for n in urls})
            await asyncio.sleep(1.0)  # the services' start-up is not counted
            bulk, first = await timed_run(settings, "bulk")
            assert first.stats.created == count and first.stats.failed == 0, first.stats
            single, first = await timed_run(settings, "nobulk")
            assert first.stats.created == count and first.stats.failed == 0, first.stats
            rerun, again = await timed_run(settings, "bulk")
            assert again.stats.written == 0, again.stats
            changed = count // 100
            for row in rows[::100][:changed]:
                row["department"] = "Changed"
            write_csv(folder / "data" / "people.csv", rows)
            some, updated = await timed_run(settings, "nobulk")
            assert updated.stats.updated == changed, updated.stats
        finally:
            if services is not None:
                services.send_signal(signal.SIGTERM)
                services.wait(30)
            nats.stop()
            server.stop()
    print(f"{count:,} users into scim2-server (in memory, loopback), one process each:")
    line("plain loop of POST /Users (reference)", reference, count)
    line("idsync first run, through /Bulk", bulk, count, reference)
    line("idsync first run, without bulk", single, count, reference)
    line("idsync re-run (nothing to write)", rerun, count, reference)
    line(f"idsync 1% changed ({changed} PATCHes)", some, count)


PUSH_JOB = f"""\
id = "pushed"
source = {{ connection = "crm" }}
destination = {{ connection = "db", table = "people" }}
[[objects]]
keys = ["employee_id"]
fields = [
  {{ to = "employee_id", from = "externalId" }},
  {{ to = "login", from = "userName" }},
  {{ to = "department", from = "{ENTERPRISE}:department" }},
]
"""
SERVED = ("workflow", "runner", "scim_endpoint")
PUSHES = 21
MERGE_WINDOW = "0.1"


async def latency() -> tuple[float, float]:
    """The median seconds of a push answered once applied, and of a person's run of the
    same job scoped to the same key."""
    with tempfile.TemporaryDirectory(prefix="idsync-bench-scim-in-") as tmp:
        folder = Path(tmp)
        nats = EmbeddedNats(folder / "nats")
        services: subprocess.Popen[bytes] | None = None
        try:
            url = nats.start()
            home = folder / "home"
            token = users.add_person(home, "crm", [], system=True)
            (folder / "connections.toml").write_text(
                '[crm]\nprovider = "scim-inbound"\nsystems = ["crm"]\n\n'
                f'[db]\nprovider = "sqlite"\npath = "{folder / "people.db"}"\n'
            )
            settings = Settings(home=home, nats_url=url, principal="bench")
            env = {
                **os.environ,
                "IDSYNC_NATS_URL": url,
                "IDSYNC_HOME": str(home),
                "IDSYNC_SCIM_PORT": "0",
                "IDSYNC_MERGE_WINDOW": MERGE_WINDOW,
            }
            services = subprocess.Popen(
                [sys.executable, "-m", "services.cli.main", "serve", *SERVED],
                env=env,
                stderr=subprocess.DEVNULL,
            )
            await define(settings, folder, {"pushed": PUSH_JOB})
            while not (home / "scim.url").is_file():
                await asyncio.sleep(0.05)
            base = (home / "scim.url").read_text().strip() + "/scim/pushed/v2"
            pushes: list[float] = []
            headers = {"Authorization": f"Bearer crm:{token}"}
            async with httpx.AsyncClient(headers=headers, timeout=60) as http:
                for n in range(PUSHES + 1):
                    user = {
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": "ada",
                        "externalId": "E1",
                        ENTERPRISE: {"department": f"D{n}"},
                    }
                    started = time.perf_counter()
                    answer = await http.post(f"{base}/Users?wait=30", json=user)
                    assert answer.status_code in (200, 201), answer.text
                    if n:  # the first one also warms the services up
                        pushes.append(time.perf_counter() - started)
            asked: list[float] = []
            async with connect(settings) as session:
                for _ in range(PUSHES):
                    started = time.perf_counter()
                    _, end = await follow_run(session, "pushed", ["E1"])
                    assert isinstance(end, RunFinished), end
                    asked.append(time.perf_counter() - started)
        finally:
            if services is not None:
                services.send_signal(signal.SIGTERM)
                services.wait(30)
            nats.stop()
    return statistics.median(pushes), statistics.median(asked)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="10,000 users instead of 2,000")
    parser.add_argument("--latency", action="store_true", help="the endpoint's latency only")
    args = parser.parse_args()
    if not args.latency:
        asyncio.run(main(10_000 if args.full else 2_000))
    pushed, asked = asyncio.run(latency())
    print(f"one user pushed to the SCIM endpoint, request → applied (median of {PUSHES}):")
    print(f"  {'POST /Users?wait= (into SQLite):':40} {pushed * 1000:6.0f} ms")
    print(f"  {'idsync job run --key --wait (reference):':40} {asked * 1000:6.0f} ms")
    print(f"  {'':40} = {pushed / asked:.2f}x (merge window {MERGE_WINDOW} s)")
