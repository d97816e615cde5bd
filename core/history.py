"""A run's changes as history rows, with every secret left out (pure).

The recorder (services/recorder) turns each applied batch of a stored plan into rows:
one per field of each change, through the same rows as a plan's report
(core/engine/report.py). A password never becomes a row's value: a field the job
generates as a password (never in a plan: the runner makes it when it creates the
object), a field whose transformation is a password, and a field named like a
password attribute (userPassword, unicodePwd, anything with "password" in its name)
show only that they were set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from schemas.connections import (
    Connection,
    CsvConnection,
    ExcelConnection,
    MysqlConnection,
    PostgresqlConnection,
    SqliteConnection,
)
from schemas.history import SECRET_SHOWN, ChangeRow, Outcome
from schemas.jobs import Job
from schemas.plan import Change, RecordError

from .engine.report import Row, rows
from .engine.transforms import is_password

SECRET_NAMES = ("password", "unicodepwd", "userpassword", "pwd")
"""Field names (casefolded) that hold secrets whatever a job says: contained in the name
for "password", the whole name for the others."""


class Secrets(msgspec.Struct, frozen=True, kw_only=True):
    """Per object type: the fields whose values are secrets, and those the runner
    generates on create (rows say they were set)."""

    fields: dict[str, frozenset[str]] = msgspec.field(default_factory=dict)
    generated: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)

    def hides(self, object_type: str, field: str) -> bool:
        return named_secret(field) or field in self.fields.get(object_type, frozenset())

    def merged(self, other: Secrets) -> Secrets:
        """Both jobs' secrets (two versions of one job: a field secret in either stays so)."""
        fields = {
            kind: self.fields.get(kind, frozenset()) | other.fields.get(kind, frozenset())
            for kind in {*self.fields, *other.fields}
        }
        generated = {
            kind: tuple(dict.fromkeys([*self.generated.get(kind, ()), *theirs]))
            for kind in {*self.generated, *other.generated}
            for theirs in [other.generated.get(kind, ())]
        }
        return Secrets(fields=fields, generated=generated)


def named_secret(field: str) -> bool:
    name = field.casefold()
    return "password" in name or name in SECRET_NAMES


def _mentions_password(spec: object) -> bool:
    if isinstance(spec, list):
        return any(_mentions_password(step) for step in spec)
    return is_password(spec)


def secrets_of(job: Job | None) -> Secrets:
    """The job's secret fields (none known without the job: names alone then)."""
    if job is None:
        return Secrets()
    fields: dict[str, frozenset[str]] = {}
    generated: dict[str, tuple[str, ...]] = {}
    for mapping in job.objects:
        secret = [f.to for f in mapping.fields if _mentions_password(f.transform)]
        fields[mapping.type] = frozenset(secret)
        made = [f.to for f in mapping.fields if is_password(_alone(f.transform))]
        if made:
            generated[mapping.type] = tuple(made)
    return Secrets(fields=fields, generated=generated)


def _alone(spec: object) -> object:
    return spec[0] if isinstance(spec, list) and len(spec) == 1 else spec


def _base(field: str) -> str:
    """A row's field without the "(added)" / "(removed)" of multi-valued changes."""
    return field.removesuffix(" (added)").removesuffix(" (removed)")


def batch_rows(
    run_id: str,
    job_id: str,
    batch: int,
    changes: Sequence[Change],
    secrets: Secrets,
    *,
    errors: Iterable[RecordError] = (),
    outcome: Outcome = "applied",
    at: str = "",
    by_key: bool = False,
) -> list[ChangeRow]:
    """The rows of one batch's changes, in plan order, numbered from 0. A change whose
    record failed in this batch (its key, and its type when the error names one) is
    "failed" with the reason; `outcome` is what the others had. Each row names the
    object as the destination does: the identifier the plan gives it (a DN), else, for
    a destination that finds its objects `by_key` (a table, a file), its key fields
    and values."""
    failed: dict[tuple[str, str], str] = {}
    for error in errors:
        if error.skipped:
            continue
        failed.setdefault((error.object_type, error.key), error.message)
    found: list[ChangeRow] = []
    for change in changes:
        why = failed.get((change.object_type, change.key)) or failed.get(("", change.key))
        status: Outcome = "failed" if why is not None else outcome
        made = secrets.generated.get(change.object_type, ()) if change.action == "create" else ()
        identifier = change.identifier or (keyed(change) if by_key else "")
        for row in [*rows([change]), *_generated(change, made)]:
            secret = bool(row.field) and secrets.hides(row.object_type, _base(row.field))
            found.append(
                ChangeRow(
                    run_id=run_id,
                    job_id=job_id,
                    batch=batch,
                    n=len(found),
                    object_type=row.object_type,
                    key=row.key,
                    action=row.action,
                    identifier=identifier,
                    field=row.field,
                    # A secret keeps only whether it had a value: never the value.
                    old=_hidden(row.old_value) if secret else row.old_value,
                    new=_hidden(row.new_value) if secret or row.field in made else row.new_value,
                    container=row.container,
                    source="" if secret else change.sources.get(_base(row.field), ""),
                    secret=secret or row.field in made,
                    outcome=status,
                    error=why or "",
                    at=at,
                )
            )
    return found


KEYED = (CsvConnection, ExcelConnection, SqliteConnection, PostgresqlConnection, MysqlConnection)
"""Destinations whose objects are rows found by their key fields alone (tables, files)."""


def found_by_key(connection: Connection) -> bool:
    """Whether the destination's rows have no identifier but their key fields."""
    return isinstance(connection, KEYED)


def keyed(change: Change) -> str:
    """The key fields and values that find a change's row: `employee_id=E001`."""
    return ", ".join(f"{name}={_text(value)}" for name, value in change.match.items())


def _text(value: object) -> str:
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return "" if value is None else str(value)


def _hidden(value: str) -> str:
    return SECRET_SHOWN if value else ""


def _generated(change: Change, made: Sequence[str]) -> list[Row]:
    """A row per password the runner generates for a create (the plan holds none)."""
    return [
        Row(
            object_type=change.object_type,
            key=change.key,
            action="create",
            container=change.container or "",
            field=field,
            new_value=SECRET_SHOWN,
        )
        for field in made
        if field not in change.set
    ]
