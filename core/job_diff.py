"""What a changed job definition changes (pure): `idsync job diff JOB FILE`.

Two answers: the definitions' difference — the job's own settings, each object type's
(keys, scopes, actions, containers) and its field map field by field (source,
transformation, policy, …) — and the plans' difference on the same data: the rows of a
plan's report (one per field of each change, core/engine/report.py) that only one of
the two plans has.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import msgspec

from schemas.jobs import FieldMap, Job, ObjectMapping
from schemas.plan import Change

from .engine.report import Row, rows

Kind = Literal["added", "removed", "changed"]
_json = msgspec.json.Encoder(order="sorted")


class DefinitionChange(msgspec.Struct, frozen=True, kw_only=True):
    """One difference between two definitions of a job."""

    what: Kind
    object_type: str = ""
    """"": the job's own settings."""
    field: str = ""
    """A destination field of the field map ("": the object type's own settings)."""
    setting: str = ""
    """What changed ("source", "transform", "keys", "source scope", …); "": the whole
    object type or field was added or removed."""
    before: str = ""
    """The value as JSON ("" when there was none)."""
    after: str = ""

    def text(self) -> str:
        where = " ".join(p for p in (self.object_type or "job", self.field) if p)
        if not self.setting:
            sign = "+" if self.what == "added" else "-"
            kind = "field" if self.field else "object type"
            return f"{sign} {kind} {where}"
        return f"~ {where}: {self.setting}: {self.before or '(none)'} → {self.after or '(none)'}"


def definition_changes(before: Job, after: Job) -> list[DefinitionChange]:
    """Every difference, the job's own settings first, then each object type's."""
    found = _settings("", "", _job_settings(before), _job_settings(after))
    old = {m.type: m for m in before.objects}
    new = {m.type: m for m in after.objects}
    for kind in [*old, *(k for k in new if k not in old)]:
        if kind not in new:
            found.append(DefinitionChange(what="removed", object_type=kind))
        elif kind not in old:
            found.append(DefinitionChange(what="added", object_type=kind))
        else:
            found += _mapping_changes(old[kind], new[kind])
    return found


def _mapping_changes(before: ObjectMapping, after: ObjectMapping) -> list[DefinitionChange]:
    kind = before.type
    found = _settings(kind, "", _mapping_settings(before), _mapping_settings(after))
    old = {f.to: f for f in before.fields}
    new = {f.to: f for f in after.fields}
    for name in [*old, *(n for n in new if n not in old)]:
        if name not in new:
            found.append(DefinitionChange(what="removed", object_type=kind, field=name))
        elif name not in old:
            found.append(DefinitionChange(what="added", object_type=kind, field=name))
        else:
            found += _settings(kind, name, _field_settings(old[name]), _field_settings(new[name]))
    return found


def _settings(
    kind: str, field: str, before: dict[str, Any], after: dict[str, Any]
) -> list[DefinitionChange]:
    found = []
    for name in [*before, *(n for n in after if n not in before)]:
        old, new = _text(before.get(name)), _text(after.get(name))
        if old != new:
            found.append(
                DefinitionChange(
                    what="changed",
                    object_type=kind,
                    field=field,
                    setting=name,
                    before=old,
                    after=new,
                )
            )
    return found


def _text(value: Any) -> str:
    return "" if value is None else _json.encode(_lean(value)).decode()


def _lean(value: Any) -> Any:
    """The value without its settings left unset (None), at any depth."""
    if isinstance(value, dict):
        return {k: _lean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_lean(v) for v in value]
    return value


def _job_settings(job: Job) -> dict[str, Any]:
    found: dict[str, Any] = msgspec.to_builtins(job)
    found.pop("objects", None)
    return found


def _mapping_settings(mapping: ObjectMapping) -> dict[str, Any]:
    found: dict[str, Any] = msgspec.to_builtins(mapping)
    found.pop("fields", None)
    for side in ("source", "destination"):  # an object type's scope on each side
        found[f"{side} scope"] = found.pop(side, None)
    return found


def _field_settings(field: FieldMap) -> dict[str, Any]:
    found: dict[str, Any] = msgspec.to_builtins(field)
    found.pop("to", None)
    found.pop("from", None)
    first = {name: found.pop(name, None) for name in ("transform", "policy")}
    return {"source": field.source, **first, **found}


class PlanDifference(msgspec.Struct, frozen=True, kw_only=True):
    """The rows only one plan has, in each plan's order."""

    only_before: list[Row]
    only_after: list[Row]


def plan_difference(before: Sequence[Change], after: Sequence[Change]) -> PlanDifference:
    """The report rows (one per field of each change) that only one plan has: a change
    both plans make alike is in neither list; one they make differently is in both,
    each with its own values."""
    old, new = list(rows(before)), list(rows(after))
    return PlanDifference(only_before=_missing(old, new), only_after=_missing(new, old))


def _missing(these: Iterable[Row], others: Iterable[Row]) -> list[Row]:
    """The rows of `these` that `others` lacks (as many times as they lack them)."""
    left = Counter(others)
    found = []
    for row in these:
        if left[row] > 0:
            left[row] -= 1
        else:
            found.append(row)
    return found
