"""Whether an entry a create writes is one the endpoint's query finds: the query (an RFC
4515 filter, parsed by ldap3's parser as `dn.compile_filter` parses it) evaluated against
the values the create sends, before anything is sent. Three answers: True (it matches),
False (the values written decide that it does not), None (they do not decide: the
server adds values of its own — superior object classes, operational attributes, Active
Directory's objectCategory and account state —, or compares an attribute by a rule
this side does not know). A create is refused only on False (provider.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import ldap3.operation.search as _search

from core.engine.policies import alike

_parse: Callable[..., Any] = _search.parse_filter
_ESCAPED = re.compile(rb"\\([0-9A-Fa-f]{2})")

FOLDS, EXACT = "folds", "exact"
"""How an attribute compares its values (`Written.rule`): without case and spaces made
one (caseIgnoreMatch), with case (caseExactMatch, spaces made one too); anything
else (None): only the very text is known to match."""


class Written:
    """What a create writes, and what this side knows of the attributes it does not."""

    def __init__(
        self,
        values: Mapping[str, Sequence[str]],
        classes: Iterable[str],
        *,
        rule: Callable[[str], str | None],
        absent: Callable[[str], bool],
    ) -> None:
        self.values = {name.lower(): list(texts) for name, texts in values.items()}
        self.classes = {name.lower() for name in classes}
        """The classes sent and their superiors (what the entry holds at least)."""
        self.rule = rule
        self.absent = absent
        """Whether an attribute the create does not write is surely absent from the entry
        (an attribute of users only, which the server does not set)."""


def parsed(query: str) -> Any:
    """The query's parse tree (its top node), as `dn.compile_filter` parses it."""
    return _parse(query, None, False, True, None, False).elements[0]


def decides(node: Any, entry: Written) -> bool | None:
    """Whether the filter node matches the entry: True, False, or None (not decided)."""
    tag = node.tag
    if tag == _search.AND:
        found = [decides(e, entry) for e in node.elements]
        return False if False in found else None if None in found else True
    if tag == _search.OR:
        found = [decides(e, entry) for e in node.elements]
        return True if True in found else None if None in found else False
    if tag == _search.NOT:
        inner = decides(node.elements[0], entry)
        return None if inner is None else not inner
    assertion = node.assertion
    name = str(assertion["attr"]).lower()
    if ";" in name or tag in (
        _search.MATCH_APPROX,
        _search.MATCH_GREATER_OR_EQUAL,
        _search.MATCH_LESS_OR_EQUAL,
        _search.MATCH_EXTENSIBLE,
    ):
        return None  # options, orderings, approximations, matching rules: the server's
    if name == "objectclass":
        if tag == _search.MATCH_PRESENT:
            return True
        if tag == _search.MATCH_EQUAL and _text(assertion["value"]).lower() in entry.classes:
            return True
        return None  # a class the server may add (a superior, an auxiliary class)
    values = entry.values.get(name)
    if not values:
        return False if entry.absent(name) else None
    if tag == _search.MATCH_PRESENT:
        return True
    rule = entry.rule(name)
    if tag == _search.MATCH_EQUAL:
        wanted = _text(assertion["value"])
        if wanted in values:
            return True
        if rule is None:
            return None
        fold = _folding(rule)
        return fold(wanted) in {fold(value) for value in values}
    if tag == _search.MATCH_SUBSTRING and rule is not None:
        fold = _folding(rule)
        parts = (
            fold(_text(assertion.get("initial") or b"")),
            [fold(_text(part)) for part in assertion.get("any") or ()],
            fold(_text(assertion.get("final") or b"")),
        )
        return any(_holds(fold(value), *parts) for value in values)
    return None


def _text(raw: bytes | str) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    return _ESCAPED.sub(lambda m: bytes([int(m.group(1), 16)]), data).decode("utf-8", "replace")


def _folding(rule: str) -> Callable[[str], str]:
    return alike if rule == FOLDS else _spaced


def _spaced(text: str) -> str:
    return " ".join(text.split())


def _holds(value: str, initial: str, middle: list[str], final: str) -> bool:
    """Whether `value` matches initial*middle…*final (each already folded)."""
    if not value.startswith(initial):
        return False
    at = len(initial)
    for part in middle:
        found = value.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return len(value) - at >= len(final) and value.endswith(final)


def attributes(node: Any) -> set[str]:
    """The attributes a filter names, lower-case."""
    if node.assertion is not None and "attr" in node.assertion:
        return {str(node.assertion["attr"]).lower()}
    return {name for element in node.elements for name in attributes(element)}
