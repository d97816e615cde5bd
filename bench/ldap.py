"""CSV → OpenLDAP (adds) and OpenLDAP → SQLite (reads), next to the command-line tools.

    .venv/bin/python bench/ldap.py [--people 100000] [--reads 5]

Starts a throwaway slapd (tests/ldap_server.py: mdb with dbnosync, on a free loopback
port; needs the Debian packages slapd and ldap-utils), an embedded nats-server and the
services (`idsync serve …` in their own process, start-up not counted), and times on
the same data in the same run:
  adds   ldapadd of an LDIF of the people  vs  the idsync run CSV → LDAP (request → finished)
  reads  ldapsearch with paging (1000)     vs  the idsync run LDAP → SQLite, and the
         provider's read alone (the records, in this process)
With --reads N the reads are timed N times, alternating (each run a first run into a
table of its own), and their medians and ranges printed, with the median of the rounds'
ratios and the services' processor time per run: one read of a shared machine says
little.
Targets: adds within 1.5x of ldapadd, reads within 3x of ldapsearch.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.ldap_server

from bench.targets import verdict, within
from core.checks.job import check_job
from schemas.connections import LdapConnection, SecretRef
from schemas.events import RunFinished
from schemas.jobs import Endpoint
from services.cli.client import connect
from services.cli.watch import follow_run
from services.common.definitions import load_connections, load_job
from services.common.embedded import EmbeddedNats
from services.common.jetstream import wait_for_infrastructure
from services.common.people import people, write_csv
from services.common.runners import runners
from services.common.settings import Settings
from services.providers import FACTS, open_provider
from services.providers.base import Layout
from tests.ldap_server import ADMIN_DN, ADMIN_PASSWORD, SUFFIX, Slapd

IDSYNC_OU, REFERENCE_OU = f"ou=idsync,{SUFFIX}", f"ou=reference,{SUFFIX}"
PERSON = '"inetOrgPerson"'
CONNECTIONS = """\
[files]
provider = "csv"
directory = "."
delimiter = ";"
[dir]
provider = "ldap"
urls = ["{url}"]
bind_dn = "{admin}"
password = {{ file = "{secret}" }}
[db]
provider = "sqlite"
path = "idsync.db"
"""
TO_LDAP = f"""\
id = "to-ldap"
source = {{ connection = "files", file = "people.csv" }}
destination = {{ connection = "dir", container = "{IDSYNC_OU}", object_classes = [{PERSON}] }}
batch_size = 5000
[[objects]]
keys = ["uid"]
fields = [
  {{ to = "uid", from = "employee_id" }}, {{ to = "givenName", from = "first_name" }},
  {{ to = "sn", from = "last_name" }}, {{ to = "mail", from = "email" }},
  {{ to = "cn", transform = {{ join = ["first_name", "last_name"], separator = " " }} }},
  {{ to = "departmentNumber", from = "department" }}, {{ to = "title" }},
  {{ to = "businessCategory", from = "groups", delimiter = "|" }},
]
"""
TO_SQLITE = f"""\
id = "to-sqlite"
source = {{ connection = "dir", container = "{IDSYNC_OU}", object_classes = ["inetOrgPerson"] }}
destination = {{ connection = "db", table = "people" }}
batch_size = 5000
[[objects]]
keys = ["uid"]
fields = [
  {{ to = "uid" }}, {{ to = "givenName" }}, {{ to = "sn" }}, {{ to = "cn" }}, {{ to = "mail" }},
  {{ to = "departmentNumber" }}, {{ to = "title" }},
  {{ to = "businessCategory", delimiter = "|" }},
]
"""


def ldif_line(name: str, value: str) -> str:
    if value.isascii() and value.isprintable() and not value.startswith((" ", ":", "<")):
        return f"{name}: {value}\n"
    return f"{name}:: {base64.b64encode(value.encode()).decode()}\n"


def reference_ldif(rows: list[dict[str, str]]) -> str:
    """The entries the job makes, as LDIF under the reference OU."""
    out: list[str] = []
    for row in rows:
        out.append(f"dn: uid={row['employee_id']},{REFERENCE_OU}\nobjectClass: inetOrgPerson\n")
        for name, value in (
            ("uid", row["employee_id"]),
            ("givenName", row["first_name"]),
            ("sn", row["last_name"]),
            ("mail", row["email"]),
            ("cn", f"{row['first_name']} {row['last_name']}"),
            ("departmentNumber", row["department"]),
            ("title", row["title"]),
            *(("businessCategory", g) for g in row["groups"].split("|") if g),
        ):
            out.append(ldif_line(name, value))
        out.append("\n")
    return "".join(out)


def tool(args: list[str], stdin: Path | None = None) -> float:
    started = time.perf_counter()
    with (stdin or Path(os.devnull)).open("rb") as given:
        subprocess.run(args, stdin=given, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def start_services(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "serve", "workflow", "runner"],
        env=env,
        stderr=subprocess.DEVNULL,
    )


async def restart_services(
    services: subprocess.Popen[bytes], env: dict[str, str], settings: Settings
) -> subprocess.Popen[bytes]:
    """The services stopped and started again once the jobs are defined, as a
    deployment's start with its connections stored (a runner loads their providers as it
    starts: services/runner/ahead.py); returned once the new runner beats."""
    services.send_signal(signal.SIGTERM)
    services.wait(30)
    started = start_services(env)
    async with connect(settings) as session:
        for _ in range(1200):
            if any(runner.pid == started.pid for runner in await runners(session.js)):
                return started
            await asyncio.sleep(0.05)
    started.send_signal(signal.SIGTERM)
    raise RuntimeError("the services started again, but no runner beat within a minute")


async def timed_run(
    settings: Settings, job: str, changed_only: bool = False
) -> tuple[float, RunFinished]:
    async with connect(settings) as session:
        started = time.perf_counter()
        _, end = await follow_run(session, job, None, changed_only=changed_only)
    assert isinstance(end, RunFinished), end
    return time.perf_counter() - started, end


async def define(settings: Settings, folder: Path, jobs: dict[str, str]) -> None:
    """Stores the connections of `folder`/connections.toml and the jobs (name → TOML),
    checked as `idsync job apply` checks them."""
    async with connect(settings) as session:
        await wait_for_infrastructure(session.js)  # the services create it
        for connection in load_connections(folder / "connections.toml"):
            await session.store.put_connection(connection)
        for name, text in jobs.items():
            (folder / f"{name}.toml").write_text(text)
            job = load_job(folder / f"{name}.toml")
            check_job(job, {c.id: c for c in await session.store.connections()}, FACTS)
            await session.store.put_job(job)


def printer(count: int, reference: str) -> Callable[..., None]:
    """Prints one timing: seconds, objects per second, and the ratio to the reference."""

    def line(what: str, seconds: float, against: float | None = None) -> None:
        ratio = f"  = {seconds / against:.2f}x {reference}" if against else ""
        print(f"  {what:<48}{seconds:7.2f} s {count / seconds:>9,.0f}/s{ratio}")

    return line


async def provider_read(url: str, secret: Path) -> tuple[float, int]:
    """The LDAP provider's read of every person, alone (no services, no planning)."""
    conn = LdapConnection(
        id="dir", urls=[url], bind_dn=ADMIN_DN, password=SecretRef(file=str(secret))
    )
    endpoint = Endpoint(connection="dir", container=IDSYNC_OU, object_classes=["inetOrgPerson"])
    side = open_provider(conn, endpoint, Layout(multi_valued={"businessCategory": "|"}))
    started = time.perf_counter()
    await side.open(write=False)
    count = 0
    async for batch in side.read(5000):
        count += len(batch)
    await side.close()
    return time.perf_counter() - started, count


def cpu_seconds(pid: int) -> float:
    """The processor time a process has used so far (user and system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} ({min(values):.2f} to {max(values):.2f})"


def sqlite_job(n: int) -> str:
    """The LDAP → SQLite job, the n-th of the repeated reads (a table of its own)."""
    return TO_SQLITE.replace('"to-sqlite"', f'"to-sqlite-{n}"').replace('"people"', f'"people{n}"')


async def main(count: int, rounds: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="idsync-bench-ldap-"))
    rows = people(count)
    for row in rows:  # mail is ASCII (IA5) in LDAP; the made-up people have accents
        row["email"] = f"{row['employee_id'].lower()}@example.org"
    write_csv(folder / "people.csv", rows)
    (folder / "reference.ldif").write_text(reference_ldif(rows))
    slapd = Slapd(folder / "slapd")
    slapd.start()
    secret = folder / "password"
    secret.write_text(ADMIN_PASSWORD)
    for ou in (IDSYNC_OU, REFERENCE_OU):
        slapd.ldapadd(f"dn: {ou}\nobjectClass: organizationalUnit\nou: {ou[3:].split(',')[0]}\n")
    (folder / "connections.toml").write_text(
        CONNECTIONS.format(url=slapd.url, admin=ADMIN_DN, secret=secret)
    )
    bind = ["-x", "-H", slapd.url, "-D", ADMIN_DN, "-w", ADMIN_PASSWORD]
    server = EmbeddedNats(folder / "nats")
    url = server.start()
    settings = Settings(home=folder / "home", nats_url=url, principal="bench")
    env = {**os.environ, "IDSYNC_NATS_URL": url, "IDSYNC_HOME": str(settings.home)}
    services = start_services(env)
    try:
        jobs = {"to-ldap": TO_LDAP, "to-sqlite": TO_SQLITE}
        jobs |= {f"to-sqlite-{n}": sqlite_job(n) for n in range(1, rounds)}
        await define(settings, folder, jobs)
        services = await restart_services(services, env, settings)
        await asyncio.sleep(1.0)  # the services' start-up is not counted
        ldapadd = tool(["ldapadd", *bind, "-c"], folder / "reference.ldif")
        adds, added = await timed_run(settings, "to-ldap")
        search = ["ldapsearch", *bind, "-LLL", "-E", "pr=1000/noprompt", "-b", IDSYNC_OU]
        timed: list[tuple[float, float, float, float]] = []  # search, run, its CPU, alone
        for n in range(rounds):
            ldapsearch = tool([*search, "(objectClass=inetOrgPerson)"])
            cpu = cpu_seconds(services.pid)
            reads, copied = await timed_run(settings, f"to-sqlite-{n}" if n else "to-sqlite")
            cpu = cpu_seconds(services.pid) - cpu
            read_alone, read_count = await provider_read(slapd.url, secret)
            assert copied.stats.created == count and read_count == count, copied.stats
            timed.append((ldapsearch, reads, cpu, read_alone))
    finally:
        services.send_signal(signal.SIGTERM)
        services.wait(30)
        server.stop()
        slapd.stop()
    assert added.stats.created == count and added.stats.failed == 0, added.stats
    assert copied.stats.created == count and read_count == count, (copied.stats, read_count)

    line = printer(count, "the tool")

    print(f"people: {count:,}   slapd with dbnosync   (files in {folder})")
    print("adds (target: within 1.5x)")
    line("ldapadd", ldapadd)
    line("idsync run CSV → LDAP (request → finished)", adds, ldapadd)
    print("reads (target: within 3x)")
    line("ldapsearch, pages of 1000", ldapsearch)
    line("idsync provider read alone", read_alone, ldapsearch)
    line("idsync run LDAP → SQLite (request → finished)", reads, ldapsearch)
    if rounds > 1:
        searches, runs, cpus, alone = (list(column) for column in zip(*timed, strict=True))
        print(f"reads, {rounds} rounds alternated: medians (ranges) in seconds")
        print(f"  ldapsearch {spread(searches)}, the run {spread(runs)}, alone {spread(alone)}")
        run_ratios = [run / search for search, run, _, _ in timed]
        alone_ratios = [one / search for search, _, _, one in timed]
        print(f"  the run / ldapsearch, per round: {spread(run_ratios)}")
        print(f"  alone / ldapsearch, per round:   {spread(alone_ratios)}")
        print(f"  the services' processor time per run: {spread(cpus)}")
    adds_what = f"CSV → LDAP first run, {count:,} people"
    verdict(within("ldap.py", adds_what, adds, "ldapadd", ldapadd, 1.5))
    # Over several rounds, the median of each round's run next to its own ldapsearch.
    middle = sorted(timed, key=lambda each: each[1] / each[0])[len(timed) // 2]
    reads_what = f"LDAP → SQLite whole run, {count:,} people" + (
        f" (the median round of {rounds})" if rounds > 1 else ""
    )
    verdict(within("ldap.py", reads_what, middle[1], "paged ldapsearch", middle[0], 3))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=1, help="times the reads are timed")
    given = parser.parse_args()
    asyncio.run(main(given.people, given.reads))
