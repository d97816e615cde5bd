"""The source fields a job's mapping reads, found from what the job says (never from the
data): checked against the fields a source has, so that a renamed column fails the run
instead of making every record look empty."""

from __future__ import annotations

from schemas.jobs import ObjectMapping

from .conditions import fields_tested
from .transforms_format import placeholders

_VALUE_UNREAD = frozenset({"static", "join", "format", "password", "script"})
"""Transformations that make a value without reading the field map's own source field."""


def fields_read(mapping: ObjectMapping, path: str) -> dict[str, str]:
    """Every source field the mapping reads → where the job names it, for checking them
    against the fields a source has: keys, `from` fields, and the fields that `join`,
    `default`, `format` and `if` name. A field map whose transformation starts from
    nothing of its own (`static`, `join`, `format`, a script, a password) reads no field
    under its own name."""
    if not mapping.fields:
        return {key: f"{path}.keys" for key in mapping.keys}
    read: dict[str, str] = {}
    for at, field in enumerate(mapping.fields):
        here = f"{path}.fields[{at}]"
        steps = field.transform if isinstance(field.transform, list) else [field.transform]
        first = steps[0] if steps else None
        starts_afresh = _step_name(first) in _VALUE_UNREAD and not _reads_value(first)
        if field.from_ is not None:
            read.setdefault(field.from_, f"{here}.from")
        elif not starts_afresh:
            read.setdefault(field.to, f"{here}.to")
        for step in steps:
            for name in _named_fields(step):
                read.setdefault(name, f"{here}.transform")
    if mapping.container_from is not None:
        read.setdefault(mapping.container_from, f"{path}.container_from")
    if mapping.leavers is not None:
        for name in fields_tested(mapping.leavers.when):
            read.setdefault(name, f"{path}.leavers.when")
    return read


def reads_every_field(mapping: ObjectMapping) -> bool:
    """Whether the mapping may read any source field: it copies every field, or a script
    is given the whole record (a source asked only for `fields_read` would starve it)."""
    if not mapping.fields:
        return True
    for field in mapping.fields:
        steps = field.transform if isinstance(field.transform, list) else [field.transform]
        if any(_runs_script(step) for step in steps):
            return True
    return False


def _runs_script(step: object) -> bool:
    if not isinstance(step, dict):
        return False
    if "script" in step:
        return True
    for branch in ("then", "else"):
        inner = step.get(branch)
        if any(_runs_script(item) for item in (inner if isinstance(inner, list) else [inner])):
            return True
    return False


def _reads_value(step: object) -> bool:
    """A `format` whose template has `{}` starts from the field's own value."""
    template = step.get("format") if isinstance(step, dict) else None
    return isinstance(template, str) and "" in placeholders(template)


def _step_name(step: object) -> str | None:
    if isinstance(step, str):
        return step
    if isinstance(step, dict):
        for name in _VALUE_UNREAD | {"default", "if"}:
            if name in step:
                return name
    return None


def _named_fields(step: object) -> list[str]:
    """The source fields a transformation names (beyond the value it is given)."""
    if not isinstance(step, dict):
        return []
    named: list[str] = []
    joined = step.get("join")
    if isinstance(joined, list):
        named += [name for name in joined if isinstance(name, str)]
    fallback = step.get("default")
    if isinstance(fallback, list):
        named += [name for name in fallback if isinstance(name, str)]
    template = step.get("format")
    if isinstance(template, str):
        named += [name.split(":")[0] for name in placeholders(template) if name.split(":")[0]]
    test = step.get("if")
    if isinstance(test, dict) and isinstance(test.get("field"), str):
        named.append(test["field"])
    for branch in ("then", "else"):
        inner = step.get(branch)
        for item in inner if isinstance(inner, list) else [inner]:
            named += _named_fields(item)
    return named
