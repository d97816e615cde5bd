"""What every transformation shares: its errors, its arguments, its shape as a function.

A compiled transformation is a `Step`: the field's current value (None: no value) and
the whole source record in, the new value out. Arguments are checked once, when the
job is applied or a run starts; a step only meets the values of records.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Collection, Mapping
from typing import Any, NoReturn

from core.errors import BadInput
from core.words import show
from schemas.values import Record, Value

Step = Callable[[Value | None, Record], Value | None]


def nfc(text: str) -> str:
    """The text with its accents composed (NFC): "ü" written as "u" and a combining mark
    (as a Mac, and some exports, write it) is the "ü" a job names, one character."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


class TransformError(BadInput):
    """A transformation written wrongly in a job: where it is, and what to fix."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class RecordFailed(Exception):
    """One record could not be mapped (a date that does not parse, a value missing from a
    map). That record fails; the run goes on with the others. Deliberately not a BadInput:
    the runner ends a whole run on BadInput."""

    def __init__(self, problem: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.problem = problem
        self.field = field


class Args:
    """The arguments of one transformation as written: `{ name = main, option = … }`."""

    def __init__(self, name: str, table: Mapping[str, Any] | None, path: str) -> None:
        self.name = name
        self.path = path
        self.table: Mapping[str, Any] = table or {}
        self.main: Any = self.table.get(name)

    def fail(self, problem: str) -> NoReturn:
        raise TransformError(self.path, f"{self.name} {problem}")

    def has(self, option: str) -> bool:
        return option in self.table

    def text(self, option: str | None = None, default: str | None = None, label: str = "") -> str:
        """A text argument: the main one (option None) or a named option."""
        value = self._get(option, default)
        if not isinstance(value, str):
            self.fail(f"needs {self._name(option, label)} as text, got {show(value)}")
        return value

    def whole(
        self,
        option: str | None = None,
        default: int | None = None,
        *,
        low: int = 0,
        label: str = "",
    ) -> int:
        value = self._get(option, default)
        # TOML floats such as 3.0 are accepted; true/false are not numbers to a person.
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            value = int(value)
        name = self._name(option, label)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"needs a whole number {name}, got {show(value)}")
        if value < low:
            self.fail(f"needs a whole number {name} of at least {low}, got {value}")
        return value

    def flag(self, option: str, default: bool) -> bool:
        value = self._get(option, default)
        if not isinstance(value, bool):
            self.fail(f"needs {option} as true or false, got {show(value)}")
        return value

    def texts(self, option: str | None = None, label: str = "") -> list[str]:
        """A list of texts (at least one); a single text counts as a list of one."""
        value = self._get(option, None)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self.fail(f"needs {self._name(option, label)} as a list of texts, got {show(value)}")
        return list(value)

    def only(self, options: Collection[str]) -> None:
        """Refuse options this transformation does not have (a typo would be ignored)."""
        for key in self.table:
            if key != self.name and key not in options:
                known = ", ".join(sorted(options)) or "none"
                self.fail(f'has no option "{key}" (its options: {known})')

    def _get(self, option: str | None, default: Any) -> Any:
        if option is None:
            return self.main
        return self.table.get(option, default)

    @staticmethod
    def _name(option: str | None, label: str) -> str:
        return label or option or "argument"


def each(name: str, fn: Callable[[str], str | None]) -> Step:
    """A text transformation applied to a value: to each item of a multi-valued one."""

    def step(value: Value | None, record: Record) -> Value | None:
        if value.__class__ is str:
            return fn(value)
        if value.__class__ is list:
            return [out for item in value if (out := fn(item))]
        return not_text(name, value)

    return step


def not_text(name: str, value: Value | None) -> Value | None:
    """No value stays no value; binary data cannot be transformed as text."""
    if value is not None:
        raise RecordFailed(f"{name} needs text, got {show(value)}")
    return None


def texts_of(value: Value | None) -> list[str]:
    """The texts a value holds (none for no value or binary data); text of spaces alone
    — a spreadsheet's blank cell — is none either, as it is no key and no record."""
    if isinstance(value, str):
        return [value] if value and not value.isspace() else []
    if isinstance(value, list):
        return [item for item in value if item and not item.isspace()]
    return []
