"""Each history row names its object as the destination does: the DN in a directory
(real slapd), the key fields and values of a table's row (SQLite) — in `idsync history
KEY`, in `idsync run review --export`, and the same in PostgreSQL after a replay."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import asyncpg
import msgspec

from services.cli.client import Session
from services.common.people import people, write_csv
from services.common.settings import Settings
from tests.ldap_server import Slapd
from tests.postgresql_server import Server

from .conftest import JOB_ID, Files, RunServices, apply_files
from .history import changes_of, recorded
from .ldap_helpers import entries
from .test_cli import idsync
from .test_history_postgresql import afresh, recorder
from .test_ldap_jobs import apply, run

MAPPED = (
    '{ to = "departmentNumber", from = "department", '
    'transform = { map = { Legal = "Law" }, keep_unmapped = true } }'
)
LDAP_JOB = """id = "hr-to-dir"
source = { connection = "hr", file = "people.csv" }
destination = { connection = "dir", container = "BASE", object_classes = ["inetOrgPerson"] }
[[objects]]
keys = ["uid"]
on_destination_only = "delete"
fields = [
  { to = "uid", from = "employee_id" },
  { to = "sn", from = "last_name" },
  { to = "cn", transform = { join = ["first_name", "last_name"], separator = " " } },
  MAPPED,
]
""".replace("MAPPED", MAPPED)


async def test_ldap_rows_name_their_entries_by_dn_in_sqlite_and_postgresql(
    slapd: Slapd,
    ldap_base: str,
    tmp_path: Path,
    session: Session,
    services: RunServices,
    settings: Settings,
    pg_database: Server,
) -> None:
    folder = tmp_path / "job"
    rows = people(6)
    rows[1]["department"] = "Research"
    job = await apply(session, folder, slapd, LDAP_JOB.replace("BASE", ldap_base))
    source = folder / "data" / "people.csv"
    write_csv(source, rows)
    dn = {r["employee_id"]: f"uid={r['employee_id']},{ldap_base}" for r in rows}
    changed, gone = rows[1], rows[2]
    async with services():
        created = (await run(session, job)).run_id
        assert set(dn.values()) <= set(entries(slapd, ldap_base))
        changed["department"] = "Legal"
        write_csv(source, [r for r in rows if r is not gone])
        preview = await idsync(settings, "job", "preview", job, "--json")
        assert preview.returncode == 0, preview.stderr
        out = preview.stdout
        previewed = json.loads(out[out.index("{") :])["plan_hash"]
        finished = await run(session, job)
        updated = finished.run_id
        # The plan holds the DNs and the source values: the preview's is the run's.
        assert finished.plan_hash == previewed
        for run_id in (created, updated):
            await recorded(session, run_id)
        first = await changes_of(session, created)
        second = await changes_of(session, updated)

        shown = await idsync(settings, "history", changed["employee_id"])
        assert shown.returncode == 0, shown.stderr
        review = await idsync(settings, "run", "review", updated, "--export", "csv")
        assert review.returncode == 0, review.stderr
        key = changed["employee_id"]
        why = await idsync(settings, "history", "why", job, key, "departmentNumber")
        assert why.returncode == 0, why.stderr
        named = await idsync(settings, "history", "why", job, rows[0]["employee_id"], "cn")
        copied = await idsync(settings, "history", "why", job, key, "sn", "--json")

    assert {r.identifier for r in first if r.action == "create"} == set(dn.values())
    assert all(r.identifier == dn[r.key] for r in first)
    by_action = {(r.key, r.action): r.identifier for r in second}
    assert by_action == {
        (changed["employee_id"], "update"): dn[changed["employee_id"]],
        (gone["employee_id"], "delete"): dn[gone["employee_id"]],
    }
    header, *lines = shown.stdout.splitlines()
    assert "IDENTIFIER" in header and dn[changed["employee_id"]] in lines[0]
    exported = list(csv.DictReader(io.StringIO(review.stdout)))
    assert {(r["key"], r["identifier"]) for r in exported} == {
        (changed["employee_id"], dn[changed["employee_id"]]),
        (gone["employee_id"], dn[gone["employee_id"]]),
    }

    # Why the directory holds "Law": the source held "Legal", and the map made it so.
    assert why.stdout.splitlines()[0] == f"departmentNumber of {key} = Law"
    assert f"written by run {updated}" in why.stdout and "before: Research" in why.stdout
    assert "from source field department" in why.stdout and '"Legal":"Law"' in why.stdout
    assert 'the source held department="Legal"' in why.stdout
    first_name, last_name = rows[0]["first_name"], rows[0]["last_name"]
    assert "from source fields first_name, last_name (policy force)" in named.stdout
    assert f'the source held first_name="{first_name}"; last_name="{last_name}"' in named.stdout
    plain = json.loads(copied.stdout)
    assert (plain["source_known"], plain["source_values"], plain["run_id"]) == (
        "copied",
        None,
        created,
    )
    assert plain["source_fields"] == ["last_name"]

    # The same rows projected into PostgreSQL from the journal.
    await afresh(session, settings)
    async with recorder(msgspec.structs.replace(settings, history_url=pg_database.dsn())):
        for run_id in (created, updated):
            await recorded(session, run_id)
    conn = await asyncpg.connect(pg_database.dsn())
    try:
        found = await conn.fetch(
            "SELECT key, action, identifier, field, source FROM changes WHERE run_id = $1",
            updated,
        )
    finally:
        await conn.close()
    assert {(r["key"], r["action"], r["identifier"]) for r in found} == {
        (key, action, identifier) for (key, action), identifier in by_action.items()
    }
    assert [r["source"] for r in found if r["field"] == "departmentNumber"] == [
        'department="Legal"'
    ]


async def test_table_rows_are_named_by_their_key_fields(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    rows = files.write(5)
    await apply_files(session, files)
    async with services():
        first = (await run(session, JOB_ID)).run_id
        write_csv(files.csv, [{**rows[0], "department": "Elsewhere"}, *rows[1:]])
        second = (await run(session, JOB_ID)).run_id
        for run_id in (first, second):
            await recorded(session, run_id)
        made = await changes_of(session, first)
        changed = await changes_of(session, second)
    assert {r.identifier for r in made} == {f"employee_id={r['employee_id']}" for r in rows}
    assert [(r.key, r.field, r.identifier) for r in changed] == [
        (rows[0]["employee_id"], "department", f"employee_id={rows[0]['employee_id']}")
    ]
