"""What an Excel side must say that decoding cannot check (pure)."""

from __future__ import annotations

from core.checks.facts import Problem
from core.words import got, show
from schemas.jobs import Endpoint

READABLE = (".xlsx", ".xlsm", ".xltx", ".xltm")
MAX_ROWS = 1_048_576
_NOT_IN_NAMES = set("[]:*?/\\")


def sheet_problem(name: str) -> str | None:
    """Why Excel would refuse `name` for a sheet (None: it would not)."""
    if not name.strip() or len(name) > 31:
        return f"expected a sheet name of 1 to 31 characters, got {show(name)}"
    bad = sorted(_NOT_IN_NAMES & set(name))
    if bad:
        return f"expected a sheet name without {' '.join(bad)}, got {show(name)}"
    if name.startswith("'") or name.endswith("'"):
        return f"expected a sheet name that neither starts nor ends with ', got {show(name)}"
    return None


def check_endpoint(endpoint: Endpoint) -> list[Problem]:
    problems: list[Problem] = []
    file = endpoint.file
    if not file:
        problems.append(("file", f'expected a workbook such as "people.xlsx", got {got(file)}'))
    elif file.lower().endswith(".xls"):
        text = "an .xls workbook (the Excel 97-2003 format) is not read: save it as .xlsx"
        problems.append(("file", text))
    elif not file.lower().endswith(READABLE):
        problems.append(
            ("file", f'expected an .xlsx workbook such as "people.xlsx", got {show(file)}')
        )
    if endpoint.sheet is not None and (why := sheet_problem(endpoint.sheet)) is not None:
        problems.append(("sheet", why))
    row = endpoint.header_row
    if row is not None and not 1 <= row < MAX_ROWS:
        problems.append(
            ("header_row", f"expected a row number from 1 to {MAX_ROWS - 1:,}, got {row}")
        )
    if endpoint.table:
        problems.append(("table", "a workbook's side names a `sheet`, not a table"))
    if endpoint.query:
        problems.append(("query", "a sheet has no query: every row is in scope (`where` filters)"))
    for name in ("delimiter", "quote_char", "encoding"):
        if getattr(endpoint, name) is not None:
            text = "a workbook has none (a multi-valued field's `delimiter` goes in its field map)"
            problems.append((name, text))
    return problems
