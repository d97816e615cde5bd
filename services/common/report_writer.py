"""A plan's report written as CSV, XLSX or JSON: `idsync job preview --export` and the
change report a mail carries write it the same way; `idsync run review --export`
writes a run's changes in the same layout (`write_table`: the same columns first, then
the run's own).

The rows come from core/engine/report.py. Spreadsheet formats escape cells
that a spreadsheet would run as formulas; JSON holds the values as they are. A file is
written next to its final name and renamed into place, so a reader never sees half.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from core.engine.report import COLUMNS, PlanReport, spreadsheet_safe
from core.errors import BadInput

FORMATS = ("csv", "xlsx", "json")
# Excel refuses to open a workbook with a longer cell.
XLSX_MAX_CELL = 32_767
_TRUNCATED = "… (cut: longer than a spreadsheet cell holds)"


Summary = Iterable[tuple[str, str | int]]


def write_report(report: PlanReport, path: Path, fmt: str) -> None:
    """Write the report to `path` in `fmt` (one of FORMATS), replacing any file there."""
    write_table(
        path,
        fmt,
        COLUMNS,
        (row.cells() for row in report.rows),
        _summary(report),
        as_json=lambda: msgspec.json.encode(report),
    )


def write_table(
    path: Path,
    fmt: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    summary: Summary,
    *,
    as_json: Callable[[], bytes],
) -> None:
    """Rows under `columns` (a sheet `changes`, and a sheet `summary` in a workbook), or
    `as_json()` for JSON; written next to `path`, then renamed into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "csv":
            _write_csv(temporary, columns, rows)
        elif fmt == "xlsx":
            _write_xlsx(temporary, columns, rows, summary)
        else:
            temporary.write_bytes(msgspec.json.format(as_json(), indent=2))
        os.replace(temporary, path)
    except OSError as error:
        raise BadInput(f"{path}: cannot write the export ({error.strerror or error})") from None
    finally:
        temporary.unlink(missing_ok=True)


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    # utf-8-sig: Excel reads a CSV as UTF-8 only when it starts with a byte-order mark.
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)


def _write_xlsx(
    path: Path, columns: Sequence[str], rows: Iterable[Sequence[str]], summary: Summary
) -> None:
    # Imported here: only this format needs openpyxl, and it takes a while to load.
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def cell(text: str) -> str:
        # XML cannot hold most control characters (NUL among them): show them escaped.
        text = ILLEGAL_CHARACTERS_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
        if len(text) > XLSX_MAX_CELL:
            text = text[: XLSX_MAX_CELL - len(_TRUNCATED)] + _TRUNCATED
        return spreadsheet_safe(text)

    book = Workbook(write_only=True)  # streams rows: a large plan never sits in memory twice
    changes = book.create_sheet("changes")
    changes.append(list(columns))
    for row in rows:
        changes.append([cell(text) for text in row])
    sheet: Any = book.create_sheet("summary")
    for name, value in summary:
        sheet.append([name, cell(value) if isinstance(value, str) else value])
    book.save(path)


def _summary(report: PlanReport) -> Summary:
    yield "job", report.job_id
    yield "plan hash", report.plan_hash
    yield "source records", report.source_records
    yield "destination records", report.destination_records
    for name in report.counts.__struct_fields__:
        yield name, int(getattr(report.counts, name))
    for warning in report.warnings:
        yield "warning", warning
