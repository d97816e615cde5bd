"""Unique values for new objects: a login or an address that is taken gets a free variant.

A field map with `unique` (schemas.jobs.Unique) gives each object a run creates a value
that no destination object holds in that field and no create planned before it took:
`jsmith`, then `jsmith2`, `jsmith3`, … Creates are settled in the order of their keys,
so the same records always give the same values, and a preview plans exactly what the
run applies. Values compare trimmed, case and accents ignored (`fold`): LDAP's uid, AD's
sAMAccountName and mail addresses ignore case, MariaDB's and MySQL's default collations
accents too, and a destination that does not is only given a variant more often.
Objects that exist keep their values: the field must be create_only.

`Taken` holds the values seen, folded: `plan()` notes those of the destination records
it is given; a caller that gives it only some (a run scoped to keys, the lean planner's
second read) notes every record as it reads them and passes its own `Taken`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from core.errors import BadInput
from core.words import show
from schemas.jobs import FieldMap, ObjectMapping, Unique
from schemas.values import Record

from .transforms import is_password
from .transforms_base import texts_of

_PLACEHOLDER = re.compile(r"\{[^{}]*\}|[{}]")  # a placeholder, or a brace alone
EXAMPLE = 'such as "{value}{n}" or "{value}.{n}"'


@dataclass(frozen=True)
class Rule:
    """One field's rule: how its variants are written."""

    field: str
    parts: tuple[str, ...]
    """The pattern as texts and the placeholders "{value}" and "{n}"."""
    start: int
    before: str | None

    def variant(self, value: str, n: int) -> str:
        """The value with number `n` put in as the pattern says ("jsmith", 2 -> "jsmith2")."""
        tail = ""
        if self.before and self.before in value:
            at = value.rindex(self.before)
            value, tail = value[:at], value[at:]
        filled = {"{value}": value, "{n}": str(n)}
        return "".join(filled.get(part, part) for part in self.parts) + tail


def rules(mapping: ObjectMapping) -> dict[str, Rule]:
    """The unique fields of a mapping and their rules ({} for most jobs)."""
    found: dict[str, Rule] = {}
    for field in mapping.fields:
        if field.unique is False:
            continue
        spec = Unique() if field.unique is True else field.unique
        parts = _parts(spec.pattern)
        if parts is None:  # check_job refuses it: a job applied otherwise
            raise BadInput(f"{field.to}: unique pattern needs {{value}} and {{n}}, {EXAMPLE}")
        found[field.to] = Rule(field.to, tuple(parts), spec.start, spec.before)
    return found


def _parts(pattern: str) -> list[str] | None:
    """The pattern as text and placeholders, or None when it is not one `check` accepts."""
    parts: list[str] = []
    at = 0
    for match in _PLACEHOLDER.finditer(pattern):
        parts.append(pattern[at : match.start()])
        parts.append(match[0])
        at = match.end()
    parts.append(pattern[at:])
    if sorted(parts[1::2]) != ["{n}", "{value}"]:
        return None
    return [part for part in parts if part]


def check(field: FieldMap, mapping: ObjectMapping, path: str) -> list[tuple[str, str]]:
    """What is wrong with a field's `unique`, as (path, what to fix)."""
    if field.unique is False:
        return []
    at = f"{path}.unique"
    problems: list[tuple[str, str]] = []
    if not field.create_only:
        problems.append((at, "needs create_only = true: an object that exists keeps its value"))
    if field.to in mapping.keys:
        problems.append(
            (
                at,
                f'a key field ("{field.to}") identifies its object and cannot be made unique: '
                "match on another field, such as an employee number",
            )
        )
    if field.delimiter is not None:
        problems.append((at, "makes one value unique: remove delimiter"))
    if field.resolve is not None:
        problems.append((at, "cannot go with resolve: the values name other objects"))
    steps = field.transform if isinstance(field.transform, list) else [field.transform]
    if any(is_password(step) for step in steps):
        problems.append((at, "cannot go with a generated password: remove unique"))
    if field.unique is True:
        return problems
    spec = field.unique
    if _parts(spec.pattern) is None:
        problems.append(
            (
                f"{at}.pattern",
                f"needs {{value}} and {{n}} once each and no other braces, "
                f"{EXAMPLE}, got {show(spec.pattern)}",
            )
        )
    if spec.start < 0:
        problems.append((f"{at}.start", f"needs a whole number of at least 0, got {spec.start}"))
    if spec.before == "":
        problems.append((f"{at}.before", 'needs the text to put the number before, such as "@"'))
    return problems


def fold(text: str) -> str:
    """A value as uniqueness compares it: trimmed, case and accents ignored ("José" takes
    "jose"), as the default collations of MariaDB and MySQL (utf8mb4_general_ci, …_ai_ci)
    compare them — a UNIQUE column there refuses "jose" beside "josé"."""
    text = text.strip().casefold()
    if text.isascii():
        return text
    # Decomposed, accents dropped, composed again (casefold may decompose: "İ").
    bare = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare)


class Taken:
    """The values each unique field holds (folded): the destination's, then the creates'."""

    def __init__(self, mapping: ObjectMapping) -> None:
        self.rules = rules(mapping)
        self.values: dict[str, set[str]] = {field: set() for field in self.rules}

    def add(self, record: Record) -> None:
        for field, values in self.values.items():
            for text in texts_of(record.get(field)):
                values.add(fold(text))

    def noting(self, records: Iterable[Record]) -> Iterable[Record]:
        """`records` as they are, noting their values as they pass (when there are rules)."""
        return self._noting(records) if self.rules else records

    def _noting(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            self.add(record)
            yield record

    def settle(self, creates: Iterable[tuple[str, Record]]) -> None:
        """Give each create (its match key, its values) free values, in key order. The
        values are changed in place: they are the planner's own, not its input."""
        if not self.rules:
            return
        for _, values in sorted(creates, key=lambda create: create[0]):
            for field, rule in self.rules.items():
                value = values.get(field)
                if isinstance(value, str) and value:
                    values[field] = self._free(rule, value)

    def _free(self, rule: Rule, value: str) -> str:
        taken = self.values[rule.field]
        candidate, n = value, rule.start
        while fold(candidate) in taken:
            candidate, n = rule.variant(value, n), n + 1
        taken.add(fold(candidate))
        return candidate


def taken_in(mapping: ObjectMapping, records: Iterable[Record] | None) -> Taken | None:
    """The values `records` hold (every destination object of a run that plans only some
    of them); None for None: `plan()` then notes those it is given."""
    if records is None:
        return None
    taken = Taken(mapping)
    if taken.rules:
        for record in records:
            taken.add(record)
    return taken
