"""Finding resources by their keys: many keys per request (`userName eq "a" or userName eq
"b" …`), each found resource matched back to the key it has. What is found is a
`Target`: the id, the ETag and the attributes a change needs to see."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from core.scim.paths import Path, literal, to_text, value_at

from .connection import Session
from .messages import ResourceType
from .read import listed

KEYS_PER_SEARCH = 40
Key = tuple[str, ...]


@dataclass
class Target:
    id: str
    version: str | None
    resource: dict[str, Any]
    whole: bool = False
    """`resource` holds every attribute (read without `attributes=`)."""

    @classmethod
    def of(cls, resource: dict[str, Any], whole: bool, etag: str | None = None) -> Target:
        meta = resource.get("meta")
        version = meta.get("version") if isinstance(meta, dict) else None
        return cls(str(resource.get("id", "")), etag or version, resource, whole)


def key_filter(paths: Sequence[Path], values: Sequence[str]) -> str:
    """The filter that finds the resource with these key values."""
    parts = []
    for path, value in zip(paths, values, strict=True):
        if path.where is not None:
            where = f"{path.where[0]} eq {literal(path.where[1])}"
            parts.append(f"{path.top}[{where} and {path.item_sub} eq {literal(value)}]")
        else:
            name = f"{path.top}.{path.sub}" if path.sub else path.top
            parts.append(f"{name} eq {literal(value)}")
    return " and ".join(parts)


def held_filter(path: Path, texts: Sequence[str]) -> str:
    """The filter that finds the resources whose attribute at `path` holds each of
    `texts` (`co`): `userName co "ra" and userName co "e4"`."""
    if path.where is not None:
        where = f"{path.where[0]} eq {literal(path.where[1])}"
        held = " and ".join(f"{path.item_sub} co {literal(text)}" for text in texts)
        return f"{path.top}[{where} and {held}]"
    name = f"{path.top}.{path.sub}" if path.sub else path.top
    return " and ".join(f"{name} co {literal(text)}" for text in texts)


def key_of(resource: Any, paths: Sequence[Path]) -> Key | None:
    values = []
    for path in paths:
        found = value_at(resource, path)
        text = to_text(found[0] if isinstance(found, list) and found else found)
        if not text:
            return None
        values.append(text)
    return tuple(values)


def _fold(key: Key) -> Key:
    return tuple(v.strip().casefold() for v in key)


async def find(
    session: Session,
    kind: ResourceType,
    paths: Sequence[Path],
    keys: Iterable[Key],
    attributes: Sequence[str] | None,
) -> dict[Key, Target | None]:
    """Each key's resource (None: none has it, or several do), KEYS_PER_SEARCH keys a
    request. `attributes` None reads every attribute."""
    wanted = list(dict.fromkeys(keys))
    found: dict[Key, Target | None] = {}
    params_attributes: dict[str, str | int] = (
        {"attributes": ",".join(attributes)} if attributes else {}
    )
    for start in range(0, len(wanted), KEYS_PER_SEARCH):
        chunk = wanted[start : start + KEYS_PER_SEARCH]
        filters = [key_filter(paths, key) for key in chunk]
        text = filters[0] if len(filters) == 1 else " or ".join(f"({f})" for f in filters)
        params: dict[str, str | int] = {"filter": text, "startIndex": 1, "count": 2 * len(chunk)}
        params.update(params_attributes)
        page = listed(await session.get_json(kind.endpoint, params), kind, 1)
        exact: dict[Key, list[dict[str, Any]]] = {}
        folded: dict[Key, list[dict[str, Any]]] = {}
        for resource in page.resources:
            if (key := key_of(resource, paths)) is not None:
                exact.setdefault(key, []).append(resource)
                folded.setdefault(_fold(key), []).append(resource)
        for key in chunk:
            # The service compares case-insensitive attributes (userName) without regard to
            # case: its spelling may differ from the key's.
            hits = exact.get(key) or folded.get(_fold(key)) or []
            found[key] = Target.of(hits[0], attributes is None) if len(hits) == 1 else None
    return found


_SIMPLE = re.compile(r'^([A-Za-z][\w:.$-]*) eq ("(?:[^"\\]|\\.)*")$')


def simple_filter(text: str) -> tuple[str, str] | None:
    """(attribute, value) of a filter `attr eq "value"`, else None."""
    found = _SIMPLE.match(text)
    if found is None:
        return None
    value = msgspec.json.decode(found[2].encode())
    return (found[1], value) if isinstance(value, str) else None
