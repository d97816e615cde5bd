"""Excel → SQLite through the running services, next to a bare openpyxl read-only
iteration of the same workbook.

    .venv/bin/python bench/excel.py [--rows 100000]

Writes a workbook of made-up people as Excel saves one (text in the shared strings, the
sheet's dimension), then times, on the same machine in the same run:
  reference     openpyxl alone: load_workbook(read_only=True, data_only=True) and
                iter_rows(values_only=True) over every row
  provider      the Excel provider reading every record (in process, no services)
  first run     the idsync run into SQLite (request → finished, through NATS and the
                services): every record read, planned, batched and written
  back          the SQLite table into a new workbook (mode replace, batch_size 100,000:
                batches are cut at 512 KiB; each is staged beside the workbook and the
                workbook written once, at the run's end), next to openpyxl's write-only
                workbook of the same rows, and the services' peak memory after it
and the peak memory (VmHWM) of the services' process on a first run of the workbook and
of one a tenth its size, each in fresh services, and of the provider's read alone, in a
process of its own, at both sizes. `make bench` runs it with 10,000 rows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import openpyxl

from core.checks.job import check_job
from schemas.connections import ExcelConnection
from schemas.events import RunFinished, RunPlanned
from schemas.jobs import Endpoint
from services.cli.client import connect
from services.cli.watch import follow_run
from services.common.definitions import load_connections, load_job
from services.common.embedded import EmbeddedNats
from services.common.jetstream import wait_for_infrastructure
from services.common.people import FIELDS, people
from services.common.settings import Settings
from services.providers import FACTS, open_provider
from services.providers.base import Layout

JOB = """\
id = "bench"
source = { connection = "books", file = "people.xlsx" }
destination = { connection = "db", table = "people" }
batch_size = 5000
[[objects]]
keys = ["employee_id"]
fields = [
  { to = "employee_id" }, { to = "given_name", from = "first_name" },
  { to = "surname", from = "last_name" }, { to = "mail", from = "email" },
  { to = "department" }, { to = "title" }, { to = "groups", delimiter = "|" },
]
"""
BACK = """\
id = "back"
source = { connection = "db", table = "people" }
destination = { connection = "books", file = "out.xlsx", sheet = "People", mode = "replace" }
batch_size = 100000
[[objects]]
keys = ["employee_id"]
fields = [
  { to = "employee_id" }, { to = "given_name" }, { to = "surname" }, { to = "mail" },
  { to = "department" }, { to = "title" }, { to = "groups", delimiter = "|" },
]
"""
COLUMNS = ("employee_id", "given_name", "surname", "mail", "department", "title", "groups")
CONNECTIONS = """\
[books]
provider = "excel"
directory = "."
[db]
provider = "sqlite"
path = "idsync.db"
"""
LAYOUT = Layout(multi_valued={"groups": "|"})
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRINGS = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
STRINGS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def excel_like(path: Path, rows: list[dict[str, str]]) -> None:
    """A workbook of the people as Excel writes one: openpyxl's parts, with the sheet's
    text moved to the shared strings and its dimension stated (openpyxl writes every text
    inline and no dimension, which its own read-only mode then parses the sheet for)."""
    openpyxl.Workbook().save(path)
    strings: dict[str, int] = {}
    lines = [f'<worksheet xmlns="{MAIN}"><dimension ref="A1:G{len(rows) + 1}"/><sheetData>']
    for number, values in enumerate([list(FIELDS), *([r[f] for f in FIELDS] for r in rows)], 1):
        cells = "".join(
            f'<c r="{letter}{number}" t="s"><v>{strings.setdefault(value, len(strings))}</v></c>'
            for letter, value in zip("ABCDEFG", values, strict=True)
        )
        lines.append(f'<row r="{number}">{cells}</row>')
    lines.append("</sheetData></worksheet>")
    table = "".join(f"<si><t>{escape(text)}</t></si>" for text in strings)
    with zipfile.ZipFile(path) as old:
        parts = {info.filename: old.read(info) for info in old.infolist()}
    parts["xl/worksheets/sheet1.xml"] = "".join(lines).encode()
    parts["xl/sharedStrings.xml"] = (
        f'<sst xmlns="{MAIN}" count="{len(strings)}" uniqueCount="{len(strings)}">{table}</sst>'
    ).encode()
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{STRINGS}"/></Types>'.encode(),
    )
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        f'<Relationship Id="rIdStrings" Target="sharedStrings.xml" Type="{STRINGS_REL}"/>'
        "</Relationships>".encode(),
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
        for name, data in parts.items():
            new.writestr(name, data)


def bare_openpyxl(path: Path) -> tuple[float, int]:
    """The reference: openpyxl's read-only iteration of every row's values."""
    started = time.perf_counter()
    book: Any = openpyxl.load_workbook(path, read_only=True, data_only=True)
    count = sum(1 for _ in book.active.iter_rows(min_row=2, values_only=True))
    book.close()
    return time.perf_counter() - started, count


def bare_write(db: Path, path: Path) -> float:
    """The reference for writing: the table's rows into a write-only workbook, as text."""
    started = time.perf_counter()
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM people").fetchall()
    conn.close()
    book: Any = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("People")
    sheet.append(COLUMNS)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return time.perf_counter() - started


async def provider_read(path: Path) -> tuple[float, int]:
    """The Excel provider reading every record, alone."""
    side = open_provider(
        ExcelConnection(id="books", directory=str(path.parent)),
        Endpoint(connection="books", file=path.name),
        LAYOUT,
    )
    started = time.perf_counter()
    await side.open(write=False)
    count = 0
    async for batch in side.read(5000):
        count += len(batch)
    return time.perf_counter() - started, count


def peak_rss_mib(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def read_peak(path: Path) -> float:
    """The peak memory of a process that only reads the workbook with the provider."""
    found = subprocess.run(
        [sys.executable, __file__, "--read-peak", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(found.stdout)


async def define(settings: Settings, folder: Path) -> None:
    """Stores the connections and the job, checked as `idsync job apply` checks them."""
    async with connect(settings) as session:
        await wait_for_infrastructure(session.js)  # the services create it
        for connection in load_connections(folder / "connections.toml"):
            await session.store.put_connection(connection)
        for name, text in (("bench", JOB), ("back", BACK)):
            (folder / f"{name}.toml").write_text(text)
            job = load_job(folder / f"{name}.toml")
            check_job(job, {c.id: c for c in await session.store.connections()}, FACTS)
            await session.store.put_job(job)


async def timed_run(settings: Settings, job: str) -> tuple[float, RunFinished, int]:
    """A run of the job: its seconds, its end and how many batches it was applied in."""
    async with connect(settings) as session:
        started = time.perf_counter()
        _, end = await follow_run(session, job, None)
        seconds = time.perf_counter() - started
        planned = [e for e in await session.journal() if isinstance(e, RunPlanned)]
    assert isinstance(end, RunFinished), end
    return seconds, end, next(e.batches for e in planned if e.run_id == end.run_id)


@dataclass(frozen=True)
class Runs:
    seconds: float
    """Of the first run of the workbook into SQLite."""
    end: RunFinished
    peak: float
    """The services' peak memory (MiB) after it."""
    back: float | None = None
    """Seconds of the table's first run into a new workbook (mode replace)."""
    back_batches: int = 0
    back_peak: float = 0.0
    """The services' peak memory (MiB) after the run into the workbook."""


async def first_run(folder: Path, *, back: bool = False) -> Runs:
    """A first run of the folder's workbook into SQLite through fresh services; with
    `back`, then one of the table into a new workbook."""
    (folder / "connections.toml").write_text(CONNECTIONS)
    nats = EmbeddedNats(folder / "nats")
    services: subprocess.Popen[bytes] | None = None
    try:
        url = nats.start()
        settings = Settings(home=folder / "home", nats_url=url, principal="bench")
        env = {**os.environ, "IDSYNC_NATS_URL": url, "IDSYNC_HOME": str(settings.home)}
        services = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "serve", "workflow", "runner"],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        await define(settings, folder)
        await asyncio.sleep(1.0)  # the services' start-up is not counted
        seconds, end, _ = await timed_run(settings, "bench")
        peak = peak_rss_mib(services.pid)
        written, batches, back_peak = None, 0, 0.0
        if back:
            written, wrote, batches = await timed_run(settings, "back")
            assert wrote.stats.created == end.stats.created, wrote.stats
            back_peak = peak_rss_mib(services.pid)
    finally:
        if services is not None:
            services.send_signal(signal.SIGTERM)
            services.wait(30)
        nats.stop()
    return Runs(seconds, end, peak, written, batches, back_peak)


async def main(count: int) -> None:
    small = max(count // 10, 1)
    folders = {n: Path(tempfile.mkdtemp(prefix=f"idsync-bench-excel-{n}-")) for n in (count, small)}
    try:
        for n, folder in folders.items():
            excel_like(folder / "people.xlsx", people(n))
        book = folders[count] / "people.xlsx"
        size = book.stat().st_size
        reference, read_rows = bare_openpyxl(book)
        assert read_rows == count
        provider_seconds, records = await provider_read(book)
        assert records == count
        reads = {n: read_peak(folder / "people.xlsx") for n, folder in folders.items()}
        runs = {n: await first_run(folder, back=n == count) for n, folder in folders.items()}
        writing = bare_write(folders[count] / "idsync.db", folders[count] / "reference.xlsx")
    finally:
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)
    seconds, end = runs[count].seconds, runs[count].end
    assert end.stats.created == count and end.stats.failed == 0, end.stats

    print(f"Excel → SQLite, {count:,} rows of {len(FIELDS)} columns ({size / 2**20:.1f} MiB .xlsx)")
    line("reference: openpyxl read-only iteration", reference, count)
    line("the Excel provider's read alone", provider_seconds, count)
    print(f"{'':46}= {provider_seconds / reference:.2f}x openpyxl")
    line("idsync first run into SQLite", seconds, count)
    met = "met" if seconds <= 2 * reference else "NOT met"
    print(f"{'':46}= {seconds / reference:.2f}x openpyxl (target ≤ 2x: {met})")
    batches = runs[count].back_batches
    print(f"Back: the table into a new workbook ({count:,} rows, mode replace, {batches} batches)")
    line("reference: openpyxl write-only workbook", writing, count)
    back = runs[count].back
    assert back is not None
    line("idsync first run into the workbook", back, count)
    print(f"{'':46}= {back / writing:.2f}x openpyxl")
    print(f"  the services' peak memory after it: {runs[count].back_peak:.0f} MiB")
    print("peak memory (VmHWM):")
    for n in (small, count):
        services, alone = runs[n].peak, reads[n]
        print(
            f"  {n:>9,} rows: services {services:6.0f} MiB, provider's read alone {alone:5.0f} MiB"
        )
    grow, grow_alone = runs[count].peak / runs[small].peak, reads[count] / reads[small]
    print(f"  {count:,} rows against {small:,}: services {grow:.2f}x, read alone {grow_alone:.2f}x")


def line(what: str, seconds: float, count: int) -> None:
    print(f"  {what + ':':44} {seconds:6.2f} s  {count / seconds:>9,.0f} rows/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="how many (default 100,000)")
    parser.add_argument("--read-peak", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_peak is not None:
        asyncio.run(provider_read(args.read_peak))
        print(peak_rss_mib())
    else:
        asyncio.run(main(args.rows))
