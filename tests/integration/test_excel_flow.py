"""Jobs with an Excel side through every service over a real nats-server: a workbook →
SQLite (typed cells, a re-run that writes nothing, a change that writes only itself),
SQLite → a workbook written anew and in place, a workbook → LDAP (a real slapd), a
workbook LibreOffice made read back exactly, and the command line's part."""

from __future__ import annotations

import asyncio
import csv
import shutil
import signal
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import openpyxl
import pytest
from openpyxl.styles import Font

from schemas.events import RunBatchApplied, RunCancelled, RunFinished, RunPlanned, is_end
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.host import run_services
from services.common.people import FIELDS, people, write_csv
from services.common.settings import Settings
from services.providers.file_lock import locked
from tests.excel_files import read_file
from tests.ldap_server import ADMIN_PASSWORD, Slapd

from .conftest import IDSYNC, RunServices, env_for
from .journal import wait_for_event
from .ldap_helpers import define, entries
from .processes import runner_process
from .test_cli import idsync

Person = dict[str, str]


def connections(folder: Path, extra: str = "") -> str:
    return f"""\
[books]
provider = "excel"
directory = "data"

[db]
provider = "sqlite"
path = "data/directory.db"
{extra}"""


async def run(session: Session, job: str) -> RunFinished:
    _, end = await follow_run(session, job, None)
    assert isinstance(end, RunFinished), end
    return end


def staff_book(path: Path, rows: list[Person]) -> None:
    """The HR workbook as a person keeps it: a title row, the header in row 2, employee
    numbers and start dates typed as numbers and dates, a hidden sheet of lists first."""
    book: Any = openpyxl.Workbook()
    lists = book.active
    lists.title = "Lists"
    lists.append(["department"])
    lists.sheet_state = "hidden"
    staff = book.create_sheet("Staff")
    staff.append(["HR export"])
    staff.append([*FIELDS, "number", "started"])
    staff["A2"].font = Font(bold=True)
    for n, row in enumerate(rows, start=1):
        staff.append([*(row[f] for f in FIELDS), n, datetime(2020, 1, 1 + n % 28)])
    book.active = 1
    book.save(path)


def table(db: Path) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        found = {row["employee_id"]: dict(row) for row in conn.execute("SELECT * FROM people")}
    conn.close()
    return found


EXCEL_TO_SQLITE = """\
id = "books-to-db"
source = { connection = "books", file = "people.xlsx", sheet = "Staff", header_row = 2 }
destination = { connection = "db", table = "people" }
batch_size = 100
[[objects]]
keys = ["employee_id"]
on_destination_only = "delete"
fields = [
  { to = "employee_id" }, { to = "given_name", from = "first_name" },
  { to = "mail", from = "email" }, { to = "department" },
  { to = "groups", delimiter = "|" }, { to = "number" }, { to = "started" },
]
"""


async def test_a_workbook_into_sqlite_then_nothing_then_only_what_changed(
    tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    rows = people(300)
    job = await define(session, folder, connections(folder), EXCEL_TO_SQLITE)
    book = folder / "data" / "people.xlsx"
    staff_book(book, rows)
    async with services():
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (300, 0)
        stored = table(folder / "data" / "directory.db")
        sample = stored[rows[6]["employee_id"]]
        assert (sample["given_name"], sample["groups"]) == (
            rows[6]["first_name"],
            rows[6]["groups"],
        )
        assert (sample["number"], sample["started"]) == ("7", "2020-01-08")

        again = await run(session, job)
        assert (again.stats.written, again.stats.unchanged) == (0, 300)

        edited: Any = openpyxl.load_workbook(book)
        staff = edited["Staff"]
        staff.cell(3 + 10, 5).value = "Moved elsewhere"  # row 13: rows[10]'s department
        staff.delete_rows(3 + 20)  # rows[20] leaves
        edited.save(book)
        third = await run(session, job)
    assert (third.stats.updated, third.stats.deleted, third.stats.written) == (1, 1, 2)
    stored = table(folder / "data" / "directory.db")
    assert stored[rows[10]["employee_id"]]["department"] == "Moved elsewhere"
    assert rows[20]["employee_id"] not in stored and len(stored) == 299


SQLITE_TO_EXCEL = """\
id = "db-to-books"
source = {{ connection = "db", table = "people" }}
destination = {{ connection = "books", file = "out.xlsx", sheet = "People", mode = "{mode}" }}
batch_size = 40
[[objects]]
keys = ["employee_id"]
on_destination_only = "delete"
fields = [
  {{ to = "employee_id" }}, {{ to = "name", from = "first_name" }},
  {{ to = "department" }}, {{ to = "groups", delimiter = "|" }}, {{ to = "formula" }},
]
"""


def seed_table(db: Path, rows: list[Person]) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE people (employee_id TEXT PRIMARY KEY, first_name TEXT, "
            "department TEXT, groups TEXT, formula TEXT)"
        )
        conn.executemany(
            "INSERT INTO people VALUES (?, ?, ?, ?, ?)",
            [
                (r["employee_id"], r["first_name"], r["department"], r["groups"], "=1+1")
                for r in rows
            ],
        )
    conn.close()


def sheet_rows(path: Path) -> dict[str, list[Any]]:
    book: Any = openpyxl.load_workbook(path)
    values = list(book["People"].iter_rows(values_only=True))
    assert list(values[0][:5]) == ["employee_id", "name", "department", "groups", "formula"]
    return {str(row[0]): list(row[1:5]) for row in values[1:]}


@pytest.mark.parametrize("mode", ["replace", "update"])
async def test_a_table_into_a_workbook_then_nothing_then_only_what_changed(
    tmp_path: Path, session: Session, services: RunServices, mode: str
) -> None:
    folder = tmp_path / "job"
    rows = people(200)
    job = await define(session, folder, connections(folder), SQLITE_TO_EXCEL.format(mode=mode))
    db, out = folder / "data" / "directory.db", folder / "data" / "out.xlsx"
    seed_table(db, rows)
    notes: Any = openpyxl.Workbook()
    notes.active.title = "Notes"
    notes.active["A1"] = "kept"
    notes.save(out)
    async with services():
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (200, 0)
        written = sheet_rows(out)
        assert len(written) == 200
        assert written[rows[3]["employee_id"]] == [
            rows[3]["first_name"],
            rows[3]["department"],
            rows[3]["groups"],
            "=1+1",  # text, not a formula
        ]

        before = out.stat().st_mtime_ns
        again = await run(session, job)
        assert (again.stats.written, again.stats.unchanged) == (0, 200)
        assert out.stat().st_mtime_ns == before  # nothing written, nothing rewritten

        with sqlite3.connect(db) as conn:
            conn.execute(
                "UPDATE people SET department = 'Legal' WHERE employee_id = ?",
                (rows[5]["employee_id"],),
            )
            conn.execute("DELETE FROM people WHERE employee_id = ?", (rows[7]["employee_id"],))
            conn.execute("INSERT INTO people VALUES ('N1', 'Nia', 'Sales', 'staff', '')")
        conn.close()
        third = await run(session, job)
    assert (third.stats.created, third.stats.updated, third.stats.deleted) == (1, 1, 1)
    written = sheet_rows(out)
    assert len(written) == 200 and rows[7]["employee_id"] not in written
    assert written[rows[5]["employee_id"]][1] == "Legal"
    assert written["N1"] == ["Nia", "Sales", "staff", None]
    kept: Any = openpyxl.load_workbook(out)
    assert kept.sheetnames == ["Notes", "People"] and kept["Notes"]["A1"].value == "kept"


@pytest.mark.parametrize("mode", ["replace", "update"])
async def test_a_runner_killed_between_batches_leaves_the_workbook_whole_until_the_run_ends(
    tmp_path: Path, session: Session, services: RunServices, settings: Settings, mode: str
) -> None:
    """The batches a runner acknowledged are staged beside the workbook, which changes only
    when the run ends: killed after the third, the workbook is as it was; the runner that
    takes over ends the run, and every row is written once."""
    folder = tmp_path / "job"
    rows = people(200)
    job = await define(session, folder, connections(folder), SQLITE_TO_EXCEL.format(mode=mode))
    db, out = folder / "data" / "directory.db", folder / "data" / "out.xlsx"
    seed_table(db, rows)
    notes: Any = openpyxl.Workbook()
    notes.active.title = "Notes"
    notes.active["A1"] = "kept"
    notes.save(out)
    before = out.read_bytes()
    async with services("workflow"):
        with runner_process(settings, "doomed", IDSYNC_FAILPOINTS="after-record:3") as doomed:
            run_id = await session.request_run(job)
            assert await asyncio.to_thread(doomed.wait, 60) == -signal.SIGKILL
        assert out.read_bytes() == before
        assert len(list((out.parent / ".out.xlsx.staged").glob("*.json"))) >= 3
        with runner_process(settings, "survivor"):
            end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id, 120)
    assert isinstance(end, RunFinished), end
    assert (end.stats.created, end.stats.failed) == (200, 0)
    written = sheet_rows(out)
    assert sorted(written) == sorted(r["employee_id"] for r in rows)
    assert written[rows[3]["employee_id"]] == [
        rows[3]["first_name"],
        rows[3]["department"],
        rows[3]["groups"],
        "=1+1",
    ]
    assert sorted(p.name for p in out.parent.iterdir()) == ["directory.db", "out.xlsx"]


async def test_a_cancelled_run_writes_the_batches_it_acknowledged(
    tmp_path: Path, session: Session, settings: Settings
) -> None:
    """Cancelled while its first batch waits for the workbook's folder, the run ends with
    that batch written (it was acknowledged) and nothing else, nothing left staged."""
    folder = tmp_path / "job"
    rows = people(200)
    job = await define(session, folder, connections(folder), SQLITE_TO_EXCEL.format(mode="update"))
    db, out = folder / "data" / "directory.db", folder / "data" / "out.xlsx"
    seed_table(db, rows)
    one_at_a_time = msgspec.structs.replace(settings, runner_concurrency=1)
    stop, ready = asyncio.Event(), asyncio.Event()
    services = asyncio.create_task(
        run_services(["workflow", "runner"], one_at_a_time, settings.nats_url or "", stop, ready)
    )
    await asyncio.wait_for(ready.wait(), 20)
    try:
        with locked(out.parent):  # batch 1 waits to be staged
            run_id = await session.request_run(job)
            await wait_for_event(
                session, lambda e: isinstance(e, RunPlanned) and e.run_id == run_id
            )
            await asyncio.sleep(0.3)
            cancelled = await idsync(settings, "run", "cancel", run_id, "--reason", "wrong table")
            assert cancelled.returncode == 0, cancelled.stderr
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
        await wait_for_event(
            session, lambda e: isinstance(e, RunBatchApplied) and e.run_id == run_id
        )
        for _ in range(200):  # the runner writes what was staged once it sees the end
            if out.exists() and not (out.parent / ".out.xlsx.staged").exists():
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await services
    assert isinstance(end, RunCancelled)
    applied = [e for e in await session.journal() if isinstance(e, RunBatchApplied)]
    assert [e.batch for e in applied if e.run_id == run_id] == [1]
    assert sorted(sheet_rows(out)) == sorted(r["employee_id"] for r in rows[:40])
    assert sorted(p.name for p in out.parent.iterdir()) == ["directory.db", "out.xlsx"]


EXCEL_TO_LDAP = """\
id = "books-to-dir"
source = {{ connection = "books", file = "people.xlsx", sheet = "Staff", header_row = 2 }}
destination = {{ connection = "dir", container = "{base}", object_classes = ["inetOrgPerson"] }}
[[objects]]
keys = ["uid"]
on_destination_only = "delete"
fields = [
  {{ to = "uid", from = "employee_id" }}, {{ to = "givenName", from = "first_name" }},
  {{ to = "sn", from = "last_name" }},
  {{ to = "cn", transform = {{ join = ["first_name", "last_name"], separator = " " }} }},
  {{ to = "mail", from = "email" }}, {{ to = "departmentNumber", from = "department" }},
  {{ to = "employeeNumber", from = "number" }},
  {{ to = "businessCategory", from = "groups", delimiter = "|" }},
]
"""


async def test_a_workbook_into_ldap_then_nothing(
    slapd: Slapd, ldap_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    folder.mkdir(parents=True)
    secret = folder / "ldap-password"
    secret.write_text(ADMIN_PASSWORD + "\n")
    directory = f"""
[dir]
provider = "ldap"
urls = ["{slapd.url}"]
bind_dn = "cn=admin,dc=example,dc=org"
password = {{ file = "{secret}" }}
"""
    job = await define(
        session, folder, connections(folder, directory), EXCEL_TO_LDAP.format(base=ldap_base)
    )
    rows = people(150)
    for row in rows:  # mail is IA5 (ASCII) text in LDAP
        row["email"] = f"{row['employee_id'].lower()}@example.org"
    staff_book(folder / "data" / "people.xlsx", rows)
    async with services():
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (150, 0)
        again = await run(session, job)
        assert (again.stats.written, again.stats.unchanged) == (0, 150)
    stored = entries(slapd, ldap_base)
    entry = stored[f"uid={rows[4]['employee_id']},{ldap_base}"]
    assert entry["cn"] == [f"{rows[4]['first_name']} {rows[4]['last_name']}".encode()]
    assert entry["employeeNumber"] == [b"5"]
    assert entry["businessCategory"] == [g.encode() for g in rows[4]["groups"].split("|")]


async def test_a_workbook_libreoffice_made_reads_back_exactly(tmp_path: Path) -> None:
    office = shutil.which("libreoffice") or shutil.which("soffice")
    if office is None:
        pytest.skip("needs LibreOffice to make the workbook (the libreoffice command)")
    rows = people(50)
    source = tmp_path / "people.csv"
    write_csv(source, rows)
    # CSV import options: ";" (59), '"' (34), UTF-8 (76), from line 1; every column as text.
    options = "CSV:59,34,76,1," + "/".join(f"{n}/2" for n in range(1, len(FIELDS) + 1))
    await asyncio.to_thread(
        subprocess.run,
        [
            office,
            "--headless",
            f"--infilter={options}",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    read = await read_file(tmp_path, file="people.xlsx")
    with source.open(newline="", encoding="utf-8") as f:
        wanted = [
            {k: (v.split("|") if k == "groups" else v) for k, v in row.items() if v}
            for row in csv.DictReader(f, delimiter=";")
        ]
    assert read == wanted


async def test_connection_add_knows_excel_and_preview_samples_a_sheet(
    tmp_path: Path, settings: Settings, session: Session
) -> None:
    folder = tmp_path / "job"
    (folder / "data").mkdir(parents=True)
    added = await asyncio.to_thread(
        subprocess.run,
        [*IDSYNC, "connection", "add", "books", "--provider", "excel", "--set", "directory=data"],
        cwd=folder,
        env=env_for(settings),
        capture_output=True,
        text=True,
    )
    assert added.returncode == 0, added.stderr
    stored = {c.id: c for c in await session.store.connections()}
    assert getattr(stored["books"], "directory", None) == str(folder / "data")
    rows = people(5)
    await define(session, folder, connections(folder), EXCEL_TO_SQLITE)
    staff_book(folder / "data" / "people.xlsx", rows)
    shown = await asyncio.to_thread(
        subprocess.run,
        [*IDSYNC, "job", "preview", "books-to-db", "--sample", "2"],
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    lines = [" ".join(line.split()) for line in shown.stdout.splitlines()]
    assert f"→ given_name {rows[0]['first_name']}" in lines
    assert "→ started 2020-01-02" in lines and "→ number 1" in lines
    assert shown.stdout.count("\n#") == 2
    assert not (folder / "data" / "directory.db").exists()
