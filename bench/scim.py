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
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.*, bench.*

import httpx

from bench.ldap import define, start_services, timed_run
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="10,000 users instead of 2,000")
    args = parser.parse_args()
    asyncio.run(main(10_000 if args.full else 2_000))
