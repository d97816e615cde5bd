"""The part of OData's $filter that Microsoft Graph takes on users and groups, parsed and
evaluated over stored objects (learn.microsoft.com/graph/filter-query-parameter):
`eq`, `ne`, `lt`, `le`, `gt`, `ge`, `in (…)`, `startswith`, `endswith`, `any` over a
collection, `and`, `or`, `not`, parentheses; literals 'text' ('' for a quote), true,
false, null and numbers. Strings compare without regard to case, as the directory does.
`ne`, `not` and `endswith` are advanced queries (learn.microsoft.com/graph/aad-advanced-queries):
`uses_advanced` says whether a filter needs ConsistencyLevel: eventual and $count=true.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
Test = Callable[[Obj], bool]

IN_LIMIT = 15
"""The most values an `in (…)` takes (Graph's known issues: up to 15)."""

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)(?![\w-])|(?P<guid>[0-9a-fA-F]{8}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})|(?P<punct>[(),:])"
    r"|(?P<name>[A-Za-z_@][\w@.]*(?:/[A-Za-z_][\w]*)*(?:/any)?))"
)


class FilterError(ValueError):
    """A filter this server (and Graph) does not take."""


@dataclass
class _Tok:
    kind: str
    text: str


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    at = 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        found = _TOKEN.match(text, at)
        if found is None or found.end() == at:
            raise FilterError(f"Invalid filter clause: syntax error at position {at} in '{text}'.")
        kind = next(k for k, v in found.groupdict().items() if v is not None)
        out.append(_Tok(kind, found.group(kind)))
        at = found.end()
    return out


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _get(obj: Obj, path: str) -> Any:
    value: Any = obj
    for part in path.split("/"):
        if not isinstance(value, dict):
            return None
        if part in value:
            value = value[part]
            continue
        found = next((k for k in value if k.lower() == part.lower()), None)
        value = value.get(found) if found is not None else None
    return value


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.at = 0
        self.advanced = False
        self.variables: set[str] = set()

    def peek(self, word: str | None = None) -> _Tok | None:
        tok = self.toks[self.at] if self.at < len(self.toks) else None
        if tok is not None and word is not None and tok.text.lower() != word:
            return None
        return tok

    def take(self, word: str | None = None) -> _Tok:
        tok = self.peek(word)
        if tok is None:
            wanted = f"'{word}'" if word else "more"
            raise FilterError(f"Invalid filter clause: expected {wanted}.")
        self.at += 1
        return tok

    def parse(self) -> Test:
        test = self.or_()
        if self.at != len(self.toks):
            raise FilterError(f"Invalid filter clause: unexpected '{self.toks[self.at].text}'.")
        return test

    def or_(self) -> Test:
        parts = [self.and_()]
        while self.peek("or"):
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else lambda o: any(p(o) for p in parts)

    def and_(self) -> Test:
        parts = [self.unary()]
        while self.peek("and"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else lambda o: all(p(o) for p in parts)

    def unary(self) -> Test:
        if self.peek("not"):
            self.take()
            self.advanced = True
            inner = self.unary()
            return lambda o: not inner(o)
        if self.peek("("):
            self.take("(")
            inner = self.or_()
            self.take(")")
            return inner
        return self.comparison()

    def literal(self) -> Any:
        tok = self.take()
        if tok.kind == "str":
            return tok.text[1:-1].replace("''", "'")
        if tok.kind == "num":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "guid":
            return tok.text
        low = tok.text.lower()
        if low in ("true", "false"):
            return low == "true"
        if low == "null":
            return None
        raise FilterError(f"Invalid filter clause: expected a value, got '{tok.text}'.")

    def comparison(self) -> Test:
        tok = self.take()
        low = tok.text.lower()
        if tok.kind == "name" and low in ("startswith", "endswith") and self.peek("("):
            self.advanced |= low == "endswith"
            self.take("(")
            path = self.take().text
            self.take(",")
            prefix = _fold(self.literal())
            self.take(")")
            if not isinstance(prefix, str):
                raise FilterError(f"Invalid filter clause: {tok.text} takes a text.")

            def test(o: Obj) -> bool:
                value = o.get("@value") if path in self.variables else _get(o, path)
                values = value if isinstance(value, list) else [value]
                if low == "startswith":
                    return any(
                        isinstance(v, str) and v.casefold().startswith(prefix) for v in values
                    )
                return any(isinstance(v, str) and v.casefold().endswith(prefix) for v in values)

            return test
        if tok.kind != "name":
            raise FilterError(f"Invalid filter clause: expected a property, got '{tok.text}'.")
        if low.endswith("/any"):
            return self.any_(tok.text[: -len("/any")])
        path = tok.text
        op = self.take().text.lower()
        if op == "in":
            self.take("(")
            values = [_fold(self.literal())]
            while self.peek(","):
                self.take(",")
                values.append(_fold(self.literal()))
            self.take(")")
            if len(values) > IN_LIMIT:
                raise FilterError(
                    f"Too many values in the 'in' operator: {len(values)}; "
                    f"at most {IN_LIMIT} are supported."
                )
            return lambda o: _fold(self.value(o, path)) in values
        if op not in ("eq", "ne", "lt", "le", "gt", "ge"):
            raise FilterError(f"Invalid filter clause: unknown operator '{op}'.")
        self.advanced |= op == "ne"
        wanted = _fold(self.literal())

        def compare(o: Obj) -> bool:
            value = self.value(o, path)
            values = value if isinstance(value, list) and path not in self.variables else [value]
            return any(_compare(_fold(v), op, wanted) for v in values)

        return compare

    def value(self, o: Obj, path: str) -> Any:
        return o.get("@value") if path in self.variables else _get(o, path)

    def any_(self, path: str) -> Test:
        self.take("(")
        variable = self.take().text
        self.take(":")
        self.variables.add(variable)
        inner = self.or_()
        self.take(")")

        def test(o: Obj) -> bool:
            values = _get(o, path)
            return isinstance(values, list) and any(inner({"@value": v}) for v in values)

        return test


def _compare(value: Any, op: str, wanted: Any) -> bool:
    if op == "eq":
        return bool(value == wanted)
    if op == "ne":
        return bool(value != wanted)
    if value is None or wanted is None or type(value) is not type(wanted):
        return False
    ordered: dict[str, bool] = {
        "lt": value < wanted,
        "le": value <= wanted,
        "gt": value > wanted,
        "ge": value >= wanted,
    }
    return ordered[op]


def compile_filter(text: str) -> tuple[Test, bool]:
    """The filter as a test of one object, and whether it is an advanced query."""
    parser = _Parser(text)
    test = parser.parse()
    return test, parser.advanced


def _one_group(text: str) -> bool:
    """Empty, or one parenthesized expression (so `… and id in` binds the whole)."""
    if not text:
        return True
    if not text.startswith("("):
        return False
    depth = 0
    for at, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return at == len(text) - 1
    return False


_ID_TERM = re.compile(r"(?:^|\band\s+)id\s+in\s*\(([^)]*)\)\s*$", re.IGNORECASE)


def ids_named(text: str) -> list[str] | None:
    """The ids a filter ending in `… and id in (…)` (or only that) is limited to, so the
    directory looks them up by id as Graph does rather than testing every object."""
    text = text.strip()
    found = _ID_TERM.search(text)
    if found is None or not _one_group(text[: found.start()].strip()):
        return None
    return [v.strip().strip("'") for v in found.group(1).split(",") if v.strip()]


def ids_only(text: str) -> list[str] | None:
    """The object ids a delta query's filter names (`id eq '…' or id eq '…'`), the only
    filter delta takes on users and groups; None when it says anything else."""
    parts = [p.strip() for p in re.split(r"\s+or\s+", text.strip(), flags=re.IGNORECASE)]
    ids: list[str] = []
    for part in parts:
        found = re.fullmatch(r"id\s+eq\s+'([^']*)'", part, flags=re.IGNORECASE)
        if found is None:
            return None
        ids.append(found.group(1))
    return ids
