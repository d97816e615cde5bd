"""Field names are SCIM attribute paths (RFC 7644 §3.5.2, §3.10), as Entra and Okta map
them: `userName`, `name.givenName`, `emails[type eq "work"].value`, `emails.value` (every
address, a list), `members` (a group's member ids), and an extension's attributes after
its URN (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`).

`Path.parse` reads a field name once; `value_at` finds its value in a resource as JSON
gives it; `flatten` names every value of a resource (a source whose job copies every
field). Attribute names compare without regard to case, as SCIM says. Pure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from core.errors import BadInput
from schemas.values import Record, Value, normalize

_FILTER = re.compile(r'\[\s*(\w+)\s+eq\s+("(?:[^"\\]|\\.)*"|true|false)\s*\]', re.I)
_NAME = re.compile(r"[A-Za-z][\w$-]*")
Json = Any  # a value as JSON decodes it: str, bool, int, float, dict, list, None


@dataclass(frozen=True)
class Path:
    """One field: an attribute, of the core schema or of an extension (`schema`), with an
    optional `[sub eq value]` choosing one item of a multi-valued attribute, and an
    optional sub-attribute."""

    text: str
    attr: str
    schema: str | None = None
    where: tuple[str, str | bool] | None = None
    sub: str | None = None

    @classmethod
    def parse(cls, text: str) -> Path:
        head, bracket, tail = text.partition("[")
        schema = None
        if head.lower().startswith("urn:"):
            schema, _, head = head.rpartition(":")
        attr, _, sub = head.partition(".")
        where = None
        if bracket:
            found = _FILTER.match("[" + tail)
            if found is None:
                raise BadInput(f'scim: field {text!r}: expected name[sub eq "value"].sub')
            raw = found[2]
            literal: str | bool = json.loads(raw.lower() if raw[0] != '"' else raw)
            where = (found[1], literal)
            rest = tail[found.end() - 1 :]
            if rest and not rest.startswith("."):
                raise BadInput(f"scim: field {text!r}: expected .sub after the brackets")
            sub = rest[1:]
        for name in (attr, *([sub] if sub else [])):
            if not _NAME.fullmatch(name):
                raise BadInput(f"scim: field {text!r}: {name!r} is not an attribute name")
        return cls(text, attr, schema, where, sub or None)

    @property
    def top(self) -> str:
        """The top-level attribute as `attributes=` and PATCH paths name it."""
        return f"{self.schema}:{self.attr}" if self.schema else self.attr

    @property
    def item_sub(self) -> str:
        """The sub-attribute of an item that holds the value ("value" unless named)."""
        return self.sub or "value"

    def filter_text(self) -> str:
        """`[type eq "work"]` as a filter or a PATCH path writes it."""
        assert self.where is not None
        return f"[{self.where[0]} eq {literal(self.where[1])}]"


def literal(value: str | bool) -> str:
    """A value as a SCIM filter writes it: a JSON string, or true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)


def get(container: Json, name: str) -> Json:
    """`container[name]`, the name compared without regard to case."""
    if not isinstance(container, dict):
        return None
    if name in container:
        return container[name]
    folded = name.lower()
    for key, value in container.items():
        if key.lower() == folded:
            return value
    return None


def matches(item: Json, where: tuple[str, str | bool]) -> bool:
    found = get(item, where[0])
    wanted = where[1]
    if isinstance(wanted, bool) or isinstance(found, bool):
        return found is wanted
    return isinstance(found, str) and found.lower() == wanted.lower()


def container_of(resource: Json, path: Path) -> Json:
    return get(resource, path.schema) if path.schema else resource


def value_at(resource: Json, path: Path) -> Json:
    """The JSON value the path names: one value, a list for a multi-valued attribute
    without a filter, None when there is none."""
    found = get(container_of(resource, path), path.attr)
    if path.where is not None:
        items = found if isinstance(found, list) else []
        item = next((i for i in items if matches(i, path.where)), None)
        return get(item, path.item_sub)
    if isinstance(found, list):
        return [get(i, path.item_sub) if isinstance(i, dict) else i for i in found]
    if isinstance(found, dict):
        return get(found, path.item_sub)
    return found


_SKIPPED = frozenset({"schemas"})


def flatten(resource: Json) -> dict[str, Json]:
    """Every value of a resource under the field name that reads it: `name.givenName`,
    `emails.value` (all), `emails[type eq "work"].value` (the first of its type),
    `emails[primary eq true].value`, an extension's `urn:…:department`, `meta.lastModified`."""
    out: dict[str, Json] = {}
    if not isinstance(resource, dict):
        return out
    for name, value in resource.items():
        if name in _SKIPPED:
            continue
        if name.lower().startswith("urn:") and isinstance(value, dict):
            for attr, inner in value.items():
                _flatten_attr(out, f"{name}:{attr}", inner)
        else:
            _flatten_attr(out, name, value)
    return out


def _flatten_attr(out: dict[str, Json], name: str, value: Json) -> None:
    if isinstance(value, dict):
        for sub, inner in value.items():
            if not isinstance(inner, dict | list):
                out[f"{name}.{sub}"] = inner
        return
    if not isinstance(value, list):
        out[name] = value
        return
    if not all(isinstance(item, dict) for item in value):
        out[name] = value
        return
    subs = dict.fromkeys(sub for item in value for sub in item)
    for sub in subs:
        out[f"{name}.{sub}"] = [item.get(sub) for item in value if sub in item]
    if "value" in subs:
        out[name] = out[f"{name}.value"]
    for item in value:
        kind = item.get("type")
        for where in ([f"[type eq {literal(kind)}]"] if isinstance(kind, str) else []) + (
            ["[primary eq true]"] if item.get("primary") is True else []
        ):
            for sub, inner in item.items():
                out.setdefault(f"{name}{where}.{sub}", inner)


def to_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def as_value(value: Any, multi: bool) -> Value | None:
    """A record's value from what a path found: a list of texts for a multi-valued field
    (or a list found), else one text."""
    if isinstance(value, list):
        texts = [t for t in (to_text(v) for v in value) if t]
        return texts
    text = to_text(value)
    if multi:
        return [text] if text else []
    return text


def flat_record(resource: Json) -> Record:
    """A resource as a record: every value under the field name that reads it (flatten)."""
    return normalize({name: as_value(value, False) for name, value in flatten(resource).items()})
