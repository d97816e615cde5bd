"""Source records that failed before planning, and the objects they hold. Pure.

A record a transformation cannot map (or a script skips, or whose `where` has no text to
test) is reported, and its object is *held*: left as it is, never taken for absent. A
key held so that another source record has too — one mapped, or a second one that
failed — is a key the source holds twice, refused as two records mapped with one key
are (`keys.DuplicateKey`), naming both records.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass

from schemas.plan import RecordError
from schemas.values import Record

from .keys import DuplicateKey, display_key


@dataclass(frozen=True, slots=True)
class Failure:
    """One source record that failed before planning: the record as the source holds it,
    the error the run reports, and the object it holds."""

    record: Record
    """As the source holds it."""
    error: RecordError
    keys: Record | None
    """Its key fields as mapped; None: they could not be mapped either."""
    held: str | None
    """The match key of the object it holds; None: no object known (a key empty, or
    unreadable — several values, binary, a key that failed too)."""
    scope: str | None
    """Its first key as a run scoped to keys compares it (as read, when it could not be
    mapped): the run reports it when it asked for that key."""

    @property
    def why(self) -> str:
        return self.error.message


class Held:
    """The objects some failed records hold, by match key: the first record that failed
    with each key, and the second, if any (the source holds that key twice)."""

    def __init__(self, failures: Iterable[Failure]) -> None:
        self.first: dict[str, Failure] = {}
        self.again: dict[str, Failure] = {}
        for failure in failures:
            if (key := failure.held) is None:
                continue
            if key not in self.first:
                self.first[key] = failure
            elif key not in self.again:
                self.again[key] = failure

    def __bool__(self) -> bool:
        return bool(self.first)

    def __contains__(self, key: object) -> bool:
        return key in self.first

    def __iter__(self) -> Iterator[str]:
        return iter(self.first)

    def twice(self, *mapped: Container[str]) -> str | None:
        """The least held key that the source holds twice: a record mapped has it too
        (one of `mapped`'s keys), or a second record failed with it."""
        again = self.again
        return min(
            (k for k in self.first if k in again or any(k in keys for keys in mapped)),
            default=None,
        )

    def refusal(self, key: str, mapped: Record | None, keys: Sequence[str]) -> DuplicateKey:
        """The refusal of the held `key` (`twice`): the record `mapped` with it named as
        the plan has it beside the first record that failed with it, as read; without
        one mapped, the two records that failed with it, both as read, with why each
        failed."""
        failed = self.first[key]
        if mapped is not None:
            return DuplicateKey(display_key(mapped, keys), mapped, failed.record, failed.why, key)
        second = self.again[key]
        shown = display_key(failed.keys or {}, keys)
        return DuplicateKey(
            shown, failed.record, second.record, second.why, key, first_failed=failed.why
        )
