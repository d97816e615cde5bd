"""A plan as rows people read: one row per changed field, for previews, exports and mail.

Pure: the rows of a plan and the text of a value. Writing files is the caller's
business (services/cli/export.py). Values go into spreadsheets, so `spreadsheet_safe`
escapes text a spreadsheet would run as a formula.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from schemas.plan import Change, PlanCounts
from schemas.values import Binary, Value

LIST_SEPARATOR = "; "
"""Between the items of a multi-valued field in one cell."""
COLUMNS = ("object_type", "key", "action", "container", "field", "old_value", "new_value")
# A cell starting with one of these is a formula (or a DDE payload) to Excel, LibreOffice
# and Google Sheets; a leading quote makes it text (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """One field of one change (a change without fields, e.g. a delete, is one row)."""

    object_type: str
    key: str
    action: str
    container: str = ""
    """Where a created object goes, or where a moved one goes to."""
    field: str = ""
    old_value: str = ""
    new_value: str = ""

    def cells(self) -> tuple[str, ...]:
        """The row's cells in `COLUMNS` order."""
        return tuple(getattr(self, name) for name in COLUMNS)


class PlanReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a preview exports: the plan's identity and counts, then its rows."""

    job_id: str
    plan_hash: str
    counts: PlanCounts
    source_records: int
    destination_records: int
    rows: list[Row]
    warnings: list[str] = msgspec.field(default_factory=list)


def text(value: Value | None) -> str:
    """A value as one cell: lists joined with "; ", binary as its size ("" for none)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Binary):
        return f"(binary, {len(value.data):,} bytes)"
    return LIST_SEPARATOR.join(value)


def rows(changes: Iterable[Change]) -> Iterator[Row]:
    """The rows of the changes, in plan order: fields set, cleared, then values added
    and removed."""
    for change in changes:
        head = {
            "object_type": change.object_type,
            "key": change.key,
            "action": change.action,
            "container": change.container or "",
        }
        if not (change.set or change.clear or change.add or change.remove):
            yield Row(**head)
            continue
        for field, value in change.set.items():
            yield Row(
                **head,
                field=field,
                old_value=text(change.before.get(field)),
                new_value=text(value),
            )
        for field in change.clear:
            yield Row(**head, field=field, old_value=text(change.before.get(field)))
        # Values added to and removed from a multi-valued field (group members).
        for field, values in change.add.items():
            yield Row(**head, field=f"{field} (added)", new_value=text(values))
        for field, values in change.remove.items():
            yield Row(**head, field=f"{field} (removed)", old_value=text(values))


def spreadsheet_safe(cell: str) -> str:
    """The cell, with a leading quote when a spreadsheet would otherwise run it."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def report(
    job_id: str,
    plan_hash: str,
    counts: PlanCounts,
    changes: Iterable[Change],
    *,
    source_records: int,
    destination_records: int,
    warnings: Iterable[str] = (),
) -> PlanReport:
    """The report of one plan (counts as planned; rows in plan order)."""
    return PlanReport(
        job_id=job_id,
        plan_hash=plan_hash,
        counts=counts,
        source_records=source_records,
        destination_records=destination_records,
        rows=list(rows(changes)),
        warnings=list(warnings),
    )
