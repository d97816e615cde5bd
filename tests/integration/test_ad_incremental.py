"""An AD → SQLite job run incrementally on the real Samba DC: after a full run, a run
reads only what changed since (uSNChanged above the DC's highestCommittedUSN of the
last run) and acts on nothing it did not read."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import ldap3

from schemas.events import RunFinished, RunPlanned
from services.cli.client import Session
from services.cli.watch import follow_run
from tests.ad_server import Samba, sam

from .conftest import RunServices
from .journal import events_of_run
from .test_ad_jobs import apply


async def test_an_ad_to_sqlite_job_reads_only_the_objects_changed_since_the_last_run(
    samba: Samba, ad_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    with samba.connection() as conn:
        for i in range(12):
            attributes = {"sAMAccountName": sam(f"inc{i}"), "sn": "Old"}
            assert conn.add(f"CN=inc{i},{ad_base}", ["user"], attributes), conn.result
    folder = tmp_path / "job"
    job = await apply(
        session,
        folder,
        f"""id = "ad-to-db"
source = {{ connection = "corp", container = "{ad_base}" }}
destination = {{ connection = "db", table = "accounts" }}
changes = {{}}      # the DC's own marker: uSNChanged
[[objects]]
keys = ["login"]
on_destination_only = "delete"
fields = [{{ to = "login", from = "sAMAccountName" }}, {{ to = "sn" }}]
""",
    )
    async with services():
        _, full = await follow_run(session, job, None)
        assert isinstance(full, RunFinished) and full.stats.created == 12
        with samba.connection() as conn:
            dn = f"CN=inc7,{ad_base}"
            assert conn.modify(dn, {"sn": [(ldap3.MODIFY_REPLACE, ["New"])]}), conn.result
            assert conn.delete(f"CN=inc8,{ad_base}"), conn.result
        run_id, end = await follow_run(session, job, None, changed_only=True)
        assert isinstance(end, RunFinished), end
        assert (end.stats.updated, end.stats.deleted, end.stats.read) == (1, 0, 1)
        [planned] = [e for e in await events_of_run(session, run_id) if isinstance(e, RunPlanned)]
        assert planned.incremental and planned.source_records == 1

        _, nothing = await follow_run(session, job, None, changed_only=True)
        assert isinstance(nothing, RunFinished) and nothing.stats.written == 0
    with sqlite3.connect(folder / "data" / "directory.db") as db:
        rows = dict(db.execute("SELECT login, sn FROM accounts").fetchall())
    db.close()
    assert rows[sam("inc7")] == "New" and sam("inc8") in rows and len(rows) == 12
