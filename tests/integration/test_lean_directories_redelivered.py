"""A first run from a real slapd into a PostgreSQL or MariaDB table, planned lean and its
creates sent as columns, whose runner writes a batch and dies before recording it: the
batch is delivered again to another runner, goes into the table as create-if-absent, and
the run ends with every entry written once and counted once — with a unique index over
the key (the columns go straight in, and the index refuses them again) or without one."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from schemas.events import RunFinished, is_end
from services.cli.client import Session
from services.common.settings import Settings
from tests.ldap_server import ADMIN_PASSWORD, Slapd
from tests.mysql_server import Server as MariaDb
from tests.postgresql_server import Server as Postgresql
from tests.sql_servers import SqlProvider, connection_toml

from .conftest import RunServices
from .journal import wait_for_event
from .ldap_helpers import admin, define
from .processes import runner_process
from .test_history import sent_as_columns

COUNT = 20
TABLES = {
    ("postgresql", True): "CREATE TABLE people (id text PRIMARY KEY, mail text, title text)",
    ("postgresql", False): "CREATE TABLE people (id text, mail text, title text)",
    ("mysql", True): "CREATE TABLE people (id varchar(20) PRIMARY KEY, mail text, title text)",
    ("mysql", False): "CREATE TABLE people (id varchar(20), mail text, title text)",
}


@pytest.mark.parametrize("unique", [True, False], ids=["unique-key", "no-index"])
@pytest.mark.parametrize("destination", ["postgresql", "mariadb"])
async def test_a_batch_of_columns_written_then_delivered_again_writes_each_entry_once(
    slapd: Slapd,
    ldap_base: str,
    tmp_path: Path,
    session: Session,
    services: RunServices,
    settings: Settings,
    request: pytest.FixtureRequest,
    destination: str,
    unique: bool,
) -> None:
    kind: SqlProvider = "postgresql" if destination == "postgresql" else "mysql"
    server: Postgresql | MariaDb = request.getfixturevalue(
        "pg_database" if kind == "postgresql" else "my_database"
    )
    run_sql = server.psql if isinstance(server, Postgresql) else server.sql
    with admin(slapd) as conn:
        for n in range(COUNT):
            uid = f"p{n:03d}"
            values = {"uid": uid, "cn": uid, "sn": "S", "mail": f"{uid}@x.org", "title": "T\\t"}
            assert conn.add(f"uid={uid},{ldap_base}", ["inetOrgPerson"], values), conn.result
    run_sql(TABLES[kind, unique])
    secret = tmp_path / "ldap-password"
    secret.write_text(ADMIN_PASSWORD)
    folder = tmp_path / "job"
    connections = (
        f'[dir]\nprovider = "ldap"\nurls = ["{slapd.url}"]\n'
        f'bind_dn = "cn=admin,dc=example,dc=org"\npassword = {{ file = "{secret}" }}\n\n'
        + connection_toml(kind, "db", server, folder)
    )
    job = f"""id = "dir-to-sql"
source = {{ connection = "dir", container = "{ldap_base}", object_classes = ["inetOrgPerson"] }}
destination = {{ connection = "db", table = "people" }}
batch_size = 5
[[objects]]
keys = ["id"]
fields = [{{ to = "id", from = "uid" }}, {{ to = "mail" }}, {{ to = "title" }}]
"""
    job_id = await define(session, folder, connections, job)
    async with services("workflow"):
        with runner_process(settings, "doomed", IDSYNC_FAILPOINTS="after-write:2") as doomed:
            run_id = await session.request_run(job_id)
            assert await asyncio.to_thread(doomed.wait, 60) == -signal.SIGKILL
        written = int(run_sql("SELECT count(*) FROM people").split()[-1])
        assert written >= 10, "two batches written, the second never recorded"
        with runner_process(settings, "survivor"):
            end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id, 120)
        sent = await sent_as_columns(session, run_id)
    assert all(sent) and len(sent) == COUNT // 5, sent
    assert isinstance(end, RunFinished), end
    assert (end.stats.created, end.stats.failed) == (COUNT, 0), end.stats
    rows = run_sql("SELECT concat(id, ' ', count(*)) FROM people GROUP BY id ORDER BY id").split()
    assert rows == [item for n in range(COUNT) for item in (f"p{n:03d}", "1")], rows
