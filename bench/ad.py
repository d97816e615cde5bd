"""Active Directory speed: users CSV → AD and AD → SQLite, against raw ldap3 doing the
same on the same Samba AD DC in the same run.

idsync runs through the services (`idsync serve workflow runner` in their own process,
start-up not counted): each user is added, given a generated password and enabled.
The reference does exactly that with ldap3 (add, unicodePwd, userAccountControl; one
request at a time), then reads the users back with ldap3's paged search into SQLite
with executemany. The DC is the tests' (tests/ad_server.py: one per machine, reused
if a test session has it running); each side works in its own OU, left in place:
deleting 20,000 accounts holds the single-process DC for minutes, and the DC is thrown
away when the last session using it ends.

    .venv/bin/python bench/ad.py --people 10000
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import signal
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ldap3

from bench.ldap import define, printer, start_services, timed_run
from services.common.embedded import EmbeddedNats
from services.common.people import people
from services.common.settings import Settings
from tests.ad_server import ADMIN, ADMIN_PASSWORD, DOMAIN_DN, URL, Samba

CONNECTIONS = """\
[hr]
provider = "csv"
directory = "{folder}"

[corp]
provider = "ad"
urls = ["{url}"]
bind_dn = "{admin}"
password = {{ file = "{secret}" }}
verify = false

[db]
provider = "sqlite"
path = "{folder}/users.db"
"""
TO_AD = """id = "to-ad"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "corp", container = "{ou}" }}
batch_size = 500
[[objects]]
keys = ["sAMAccountName"]
fields = [
  {{ to = "sAMAccountName", from = "login" }}, {{ to = "userPrincipalName", from = "upn" }},
  {{ to = "cn", from = "login" }}, {{ to = "givenName", from = "first_name" }},
  {{ to = "sn", from = "last_name" }}, {{ to = "mail", from = "email" }},
  {{ to = "department" }},
  {{ to = "unicodePwd", transform = {{ password = 16, ad_complexity = true }} }},
]
"""
TO_SQLITE = """id = "to-sqlite"
source = {{ connection = "corp", container = "{ou}" }}
destination = {{ connection = "db", table = "users" }}
[[objects]]
keys = ["login"]
fields = [
  {{ to = "login", from = "sAMAccountName" }}, {{ to = "guid", from = "objectGUID" }},
  {{ to = "given", from = "givenName" }}, {{ to = "family", from = "sn" }},
  {{ to = "mail" }}, {{ to = "department" }},
]
"""


def rows_of(count: int, tag: str) -> list[dict[str, str]]:
    """Account names are unique in the whole domain: each run's names carry a tag of their own."""
    out = []
    for row in people(count):
        login = f"{tag}{row['employee_id'].lower()}"
        out.append({**row, "login": login, "upn": f"{login}@example.test"})
    return out


def reference_adds(samba: Samba, ou: str, rows: list[dict[str, str]]) -> float:
    started = time.perf_counter()
    with samba.connection() as conn:
        for i, row in enumerate(rows):
            dn = f"CN={row['login']},{ou}"
            attributes = {
                "sAMAccountName": f"r{row['login']}",
                "userPrincipalName": f"r{row['upn']}",
                "givenName": row["first_name"],
                "sn": row["last_name"],
                "mail": row["email"],
                "department": row["department"],
            }
            assert conn.add(dn, ["user"], attributes), conn.result
            password = f'"Ref-{i}-{uuid.uuid4().hex[:10]}!"'.encode("utf-16-le")
            assert conn.modify(dn, {"unicodePwd": [(ldap3.MODIFY_REPLACE, [password])]})
            assert conn.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [512])]})
    return time.perf_counter() - started


def reference_read(samba: Samba, ou: str, database: Path) -> tuple[float, int]:
    started = time.perf_counter()
    names = ["sAMAccountName", "objectGUID", "givenName", "sn", "mail", "department"]
    with samba.connection() as conn:
        found = conn.extend.standard.paged_search(
            ou, "(sAMAccountType=805306368)", attributes=names, paged_size=1000
        )
        rows = [
            [str(e["attributes"].get(name) or "") for name in names]
            for e in found
            if e["type"] == "searchResEntry"
        ]
    with sqlite3.connect(database) as db:
        db.execute(f"CREATE TABLE users ({', '.join(names)})")
        db.executemany(f"INSERT INTO users VALUES ({', '.join('?' * len(names))})", rows)
    db.close()
    return time.perf_counter() - started, len(rows)


async def main(count: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="idsync-bench-ad-"))
    tag = uuid.uuid4().hex[:6]
    rows = rows_of(count, tag)
    with (folder / "people.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    samba = Samba()
    samba.acquire()
    mine, theirs = f"OU=bench-idsync-{tag},{DOMAIN_DN}", f"OU=bench-ldap3-{tag},{DOMAIN_DN}"
    secret = folder / "password"
    secret.write_text(ADMIN_PASSWORD)
    (folder / "connections.toml").write_text(
        CONNECTIONS.format(folder=folder, url=URL, admin=ADMIN, secret=secret)
    )
    server = EmbeddedNats(folder / "nats")
    url = server.start()
    settings = Settings(home=folder / "home", nats_url=url, principal="bench")
    env = {**os.environ, "IDSYNC_NATS_URL": url, "IDSYNC_HOME": str(settings.home)}
    services = start_services(env)
    try:
        for ou in (mine, theirs):
            samba.add_ou(ou)
        jobs = {"to-ad": TO_AD.format(ou=mine), "to-sqlite": TO_SQLITE.format(ou=mine)}
        await define(settings, folder, jobs)
        await asyncio.sleep(1.0)  # the services' start-up is not counted
        raw_adds = reference_adds(samba, theirs, rows)
        adds, added = await timed_run(settings, "to-ad")
        raw_read, raw_count = reference_read(samba, theirs, folder / "reference.db")
        reads, copied = await timed_run(settings, "to-sqlite")
        report(count, folder, raw_adds, adds, raw_read, reads)
        assert added.stats.created == count and added.stats.failed == 0, added.stats
        assert copied.stats.created == count == raw_count, (copied.stats, raw_count)
    finally:
        services.send_signal(signal.SIGTERM)
        services.wait(30)
        server.stop()
        samba.release()


def report(
    count: int, folder: Path, raw_adds: float, adds: float, raw_read: float, reads: float
) -> None:
    line = printer(count, "ldap3")

    print(f"users: {count:,}   Samba AD DC (single process), LDAPS   (files in {folder})")
    print("creates: add + password + enable")
    line("ldap3, one request at a time", raw_adds)
    line("idsync run CSV → AD (request → finished)", adds, raw_adds)
    print("reads")
    line("ldap3 paged search + SQLite executemany", raw_read)
    line("idsync run AD → SQLite (request → finished)", reads, raw_read)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().people))
