"""A plan's report written as CSV, XLSX or JSON: `idsync job preview --export` and the
change report a mail carries write it the same way.

The rows come from core/engine/report.py. Spreadsheet formats escape cells
that a spreadsheet would run as formulas; JSON holds the values as they are. A file is
written next to its final name and renamed into place, so a reader never sees half.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

import msgspec

from core.engine.report import COLUMNS, PlanReport, spreadsheet_safe
from core.errors import BadInput

FORMATS = ("csv", "xlsx", "json")
# Excel refuses to open a workbook with a longer cell.
XLSX_MAX_CELL = 32_767
_TRUNCATED = "… (cut: longer than a spreadsheet cell holds)"


def write_report(report: PlanReport, path: Path, fmt: str) -> None:
    """Write the report to `path` in `fmt` (one of FORMATS), replacing any file there."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "csv":
            _write_csv(report, temporary)
        elif fmt == "xlsx":
            _write_xlsx(report, temporary)
        else:
            temporary.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2))
        os.replace(temporary, path)
    except OSError as error:
        raise BadInput(f"{path}: cannot write the export ({error.strerror or error})") from None
    finally:
        temporary.unlink(missing_ok=True)


def _write_csv(report: PlanReport, path: Path) -> None:
    # utf-8-sig: Excel reads a CSV as UTF-8 only when it starts with a byte-order mark.
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows([spreadsheet_safe(cell) for cell in row.cells()] for row in report.rows)


def _write_xlsx(report: PlanReport, path: Path) -> None:
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
    changes.append(list(COLUMNS))
    for row in report.rows:
        changes.append([cell(text) for text in row.cells()])
    summary = book.create_sheet("summary")
    for name, value in _summary(report):
        summary.append([name, cell(value) if isinstance(value, str) else value])
    book.save(path)


def _summary(report: PlanReport) -> Iterable[tuple[str, str | int]]:
    yield "job", report.job_id
    yield "plan hash", report.plan_hash
    yield "source records", report.source_records
    yield "destination records", report.destination_records
    for name in report.counts.__struct_fields__:
        yield name, int(getattr(report.counts, name))
    for warning in report.warnings:
        yield "warning", warning
