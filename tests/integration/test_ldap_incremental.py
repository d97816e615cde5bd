"""Incremental reads on the real slapd: only entries changed since the watermark (by
entryCSN, or modifyTimestamp), and an LDAP → SQLite job that deletes nothing then."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import ldap3

from core.checks.job import check_job
from schemas.events import RunFinished, RunPlanned
from schemas.values import Record
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.definitions import load_connections, load_job
from services.providers import FACTS
from services.providers.base import ChangeReader
from tests.ldap_server import ADMIN_PASSWORD, Slapd

from .conftest import RunServices
from .journal import events_of_run
from .ldap_helpers import USER, admin, connection, create, provider


async def changed(reader: ChangeReader, since: str | None, field: str | None) -> list[Record]:
    return [r async for batch in reader.read_changed(100, since, field) for r in batch]


def modify(slapd: Slapd, dn: str, **values: str) -> None:
    with admin(slapd) as conn:
        changes = {name: [(ldap3.MODIFY_REPLACE, [v])] for name, v in values.items()}
        assert conn.modify(dn, changes), conn.result


async def test_only_entries_changed_since_the_entry_csn_are_read(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    side = await provider(connection(tmp_path, slapd.url), ldap_base, USER)
    try:
        await side.apply([create(f"u{i}", cn=f"U {i}", sn="Old") for i in range(5)])
        assert isinstance(side, ChangeReader)
        everyone = await changed(side, None, "entryCSN")
        assert len(everyone) == 5 and all("entryCSN" not in r for r in everyone)
        mark = side.watermark()
        assert mark is not None and mark.endswith("#000000")

        modify(slapd, f"uid=u3,{ldap_base}", sn="New")
        seen = await changed(side, mark, "entryCSN")
        # At or after the watermark: the entry last written then may come again, harmlessly.
        assert "u3" in {r["uid"] for r in seen} and len(seen) <= 2
        assert side.watermark() is not None and side.watermark() > mark  # type: ignore[operator]
    finally:
        await side.close()


async def test_modify_timestamp_is_the_default_change_marker(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    side = await provider(connection(tmp_path, slapd.url), ldap_base, USER)
    try:
        await side.apply([create(f"t{i}", cn=f"T {i}", sn="Old") for i in range(3)])
        assert isinstance(side, ChangeReader)
        await asyncio.sleep(1.1)  # modifyTimestamp counts whole seconds
        modify(slapd, f"uid=t1,{ldap_base}", sn="New")
        assert len(await changed(side, None, None)) == 3
        mark = side.watermark()  # the second t1 was changed in
        await asyncio.sleep(1.1)
        modify(slapd, f"uid=t2,{ldap_base}", sn="New")
        seen = {r["uid"] for r in await changed(side, mark, None)}
        assert seen == {"t1", "t2"}, "t0, unchanged since, is not read; t1 at the mark is"
    finally:
        await side.close()


async def test_an_ldap_to_sqlite_job_reads_only_the_changes_and_deletes_nothing(
    slapd: Slapd, ldap_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    side = await provider(connection(tmp_path, slapd.url), ldap_base, USER)
    try:
        await side.apply([create(f"p{i}", cn=f"P {i}", sn="Old") for i in range(20)])
    finally:
        await side.close()
    folder = tmp_path / "job"
    (folder / "data").mkdir(parents=True)
    secret = folder / "secret"
    secret.write_text(ADMIN_PASSWORD)
    (folder / "connections.toml").write_text(
        f'[dir]\nprovider = "ldap"\nurls = ["{slapd.url}"]\n'
        f'bind_dn = "cn=admin,dc=example,dc=org"\npassword = {{ file = "{secret}" }}\n\n'
        '[db]\nprovider = "sqlite"\npath = "data/people.db"\n'
    )
    (folder / "job.toml").write_text(
        f'id = "dir-to-db"\nsource = {{ connection = "dir", container = "{ldap_base}" }}\n'
        'destination = { connection = "db", table = "people" }\n'
        'changes = { field = "entryCSN" }\n'
        '[[objects]]\nkeys = ["uid"]\non_destination_only = "delete"\n'
        'fields = [{ to = "uid" }, { to = "sn" }]\n'
    )
    for connection_ in load_connections(folder / "connections.toml"):
        await session.store.put_connection(connection_)
    job = load_job(folder / "job.toml")
    check_job(job, {c.id: c for c in await session.store.connections()}, FACTS)
    await session.store.put_job(job)
    async with services():
        _, full = await follow_run(session, job.id, None)
        assert isinstance(full, RunFinished) and full.stats.created == 20
        modify(slapd, f"uid=p7,{ldap_base}", sn="New")
        with admin(slapd) as conn:
            assert conn.delete(f"uid=p8,{ldap_base}"), conn.result
        run_id, end = await follow_run(session, job.id, None, changed_only=True)
    assert isinstance(end, RunFinished), end
    assert (end.stats.updated, end.stats.deleted) == (1, 0)
    [planned] = [e for e in await events_of_run(session, run_id) if isinstance(e, RunPlanned)]
    assert planned.incremental and planned.source_records <= 2  # p7, and p19 at the mark
    with sqlite3.connect(folder / "data" / "people.db") as db:
        rows = dict(db.execute("SELECT uid, sn FROM people").fetchall())
    assert rows["p7"] == "New" and "p8" in rows and len(rows) == 20
