"""A first run from a real slapd into an empty SQLite, PostgreSQL or MariaDB table of typed
columns, planned lean (a directory says no size), its creates sent as columns, it ends as the same
run planned in memory and sent as changes — the same preview and plan hash, statistics,
record errors, history and table, cell for cell: arrays or delimited text of a value
held several times, numbers, binary data, text with tabs, newlines, backslashes and
characters beyond the BMP, a value the column refuses and a row its CHECK refuses."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any

import ldap3
import pytest

from schemas.events import RunFinished
from schemas.plan import RunStats
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.settings import Settings
from services.common.watermarks import Memory
from services.runner.planning import entry, spill
from services.runner.planning.entry import Asked, plan_run
from tests.ldap_server import ADMIN_PASSWORD, Slapd
from tests.mysql_server import Server as MariaDb
from tests.postgresql_server import Server as Postgresql
from tests.sql_servers import SqlProvider, connection_toml

from .conftest import RunServices
from .history import changes_of, recorded
from .ldap_helpers import admin, define
from .test_history import sent_as_columns
from .test_transforms_flow import idsync

COUNT = 24
TEXTS = ["tab\there", "two\nlines", "back\\slash \\N", "emoji 😀 𝄞", "quote ' \" `", "x" * 5000]

TABLES = {
    "sqlite": "CREATE TABLE people (id TEXT PRIMARY KEY, mail TEXT CHECK (mail <> "
    "'refused@example.org'), description TEXT, number REAL, photo BLOB, title TEXT) STRICT",
    "postgresql": "CREATE TABLE people (id text PRIMARY KEY, mail text CHECK (mail <> "
    "'refused@example.org'), description text[], number numeric(10,2), photo bytea, "
    "title text)",
    "mysql": "CREATE TABLE people (id varchar(64) PRIMARY KEY, mail varchar(200) CHECK (mail"
    " <> 'refused@example.org'), description text, number decimal(10,2), photo blob, "
    "title mediumtext)",
}
DUMPS = {
    "sqlite": "SELECT id, mail, description, number, hex(photo), hex(title) FROM people "
    "ORDER BY id",
    "postgresql": "SELECT id, mail, description, number, encode(photo, 'hex'), "
    "encode(convert_to(title, 'UTF8'), 'hex') FROM people ORDER BY id",
    "mysql": "SELECT id, mail, description, number, HEX(photo), HEX(title) FROM people ORDER BY id",
}


def sqlite_sql(database: Path, sql: str) -> str:
    """`sql` run on the SQLite database, its rows as text."""
    with closing(sqlite3.connect(database)) as conn, conn:
        return repr(conn.execute(sql).fetchall())


def add_people(slapd: Slapd, base: str) -> None:
    with admin(slapd) as conn:
        for n in range(COUNT):
            uid = f"p{n:03d}"
            values: dict[str, Any] = {
                "uid": uid,
                "cn": uid,
                "sn": "S",
                "mail": "refused@example.org" if n == 9 else f"{uid}@example.org",
                "employeeNumber": "not a number" if n == 14 else f"{n}.{n % 10}5",
                "title": TEXTS[n % len(TEXTS)],
                "description": [f"d{n}", "with|bar" if n % 2 else "e"],
                "jpegPhoto": bytes([0, 255, n, 92, 9, 10]),
            }
            assert conn.add(f"uid={uid},{base}", ["inetOrgPerson"], values), conn.result
        add = ldap3.MODIFY_ADD
        assert conn.modify(f"uid=p001,{base}", {"description": [(add, ["third"])]})


def job_toml(base: str) -> str:
    return f"""id = "dir-to-sql"
source = {{ connection = "dir", container = "{base}", object_classes = ["inetOrgPerson"] }}
destination = {{ connection = "db", table = "people" }}
batch_size = 5
[[objects]]
keys = ["id"]
fields = [
  {{ to = "id", from = "uid" }},
  {{ to = "mail" }},
  {{ to = "description", delimiter = "|" }},
  {{ to = "number", from = "employeeNumber" }},
  {{ to = "photo", from = "jpegPhoto" }},
  {{ to = "title" }},
]
"""


@pytest.mark.parametrize("destination", ["sqlite", "postgresql", "mariadb"])
async def test_a_first_run_from_a_directory_planned_lean_ends_as_one_planned_in_memory(
    slapd: Slapd,
    ldap_base: str,
    tmp_path: Path,
    session: Session,
    services: RunServices,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    destination: str,
) -> None:
    folder = tmp_path / "job"
    run_sql: Callable[[str], str]
    if destination == "sqlite":
        database = folder / "data" / "people.db"
        database.parent.mkdir(parents=True)
        db = '[db]\nprovider = "sqlite"\npath = "data/people.db"\n'
        run_sql = partial(sqlite_sql, database)
        kind = "sqlite"
    else:
        sql_kind: SqlProvider = "postgresql" if destination == "postgresql" else "mysql"
        server: Postgresql | MariaDb = request.getfixturevalue(
            "pg_database" if sql_kind == "postgresql" else "my_database"
        )
        run_sql = server.psql if isinstance(server, Postgresql) else server.sql
        db = connection_toml(sql_kind, "db", server, folder)
        kind = sql_kind
    add_people(slapd, ldap_base)
    monkeypatch.setattr(spill, "RUN_SIZE", 7)  # the creates on disk, in several runs
    secret = tmp_path / "ldap-password"
    secret.write_text(ADMIN_PASSWORD)
    connections = (
        f'[dir]\nprovider = "ldap"\nurls = ["{slapd.url}"]\n'
        f'bind_dn = "cn=admin,dc=example,dc=org"\npassword = {{ file = "{secret}" }}\n\n' + db
    )
    job_id = await define(session, folder, connections, job_toml(ldap_base))
    job = await session.store.job(job_id)
    found: list[
        tuple[str, RunStats, list[tuple[str, str, str]], list[tuple[object, ...]], str]
    ] = []
    async with services():
        for lean in (True, False):
            if not lean:  # the same first run planned in memory

                async def in_memory(*_: object) -> bool:
                    return False

                monkeypatch.setattr(entry, "lean_enough", in_memory)
            run_sql(TABLES[kind])
            preview = await plan_run(session.store, Memory(session.js), job, Asked())
            run_id, end = await follow_run(session, job_id, None)
            assert isinstance(end, RunFinished), end
            assert end.plan_hash == preview.plan.hash, "the run applies the plan previewed"
            assert any(await sent_as_columns(session, run_id)) == lean
            await recorded(session, run_id)
            shown = await idsync(settings, "run", "show", run_id, "--json")
            assert shown.returncode == 0, shown.stderr
            history: list[tuple[object, ...]] = sorted(
                (r.key, r.action, r.field, r.new, r.outcome, r.error)
                for r in await changes_of(session, run_id)
            )
            listed = json.loads(shown.stdout)["errors"]
            errors = sorted((e["key"], e["action"], e["message"]) for e in listed)
            found.append((end.plan_hash, end.stats, errors, history, run_sql(DUMPS[kind])))
            run_sql("DROP TABLE people")
    lean_run, in_memory_run = found
    _, stats, errors, _, _ = lean_run
    assert (stats.created, stats.failed) == (COUNT - 2, 2), stats
    assert [key for key, _, _ in errors] == ["p009", "p014"], errors
    assert lean_run == in_memory_run
