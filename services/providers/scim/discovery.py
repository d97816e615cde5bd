"""What a SCIM service says it supports: /ServiceProviderConfig (filter, patch, bulk, etag,
max results), /ResourceTypes (endpoints and extensions) and /Schemas (each attribute's
type, plurality, mutability). Read when a side is opened and by `connection test`;
kept a minute per service, since every batch opens its provider anew.

A service that serves none of them (some do not) is taken as RFC 7643 describes a
plain one: users at /Users with the enterprise extension, groups at /Groups, PATCH and
filters, no bulk, no ETags; attribute types then come from the few the RFC fixes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec

from core.errors import BadInput
from core.scim.paths import Path

from .connection import Session
from .messages import (
    CORE_GROUP,
    CORE_USER,
    ENTERPRISE_USER,
    Attribute,
    Filter,
    ListResponse,
    ResourceType,
    Schema,
    SchemaExtension,
    ServiceProviderConfig,
    Supported,
)

T = TypeVar("T")
KEEP = 60.0
"""Seconds a service's discovery is reused."""
_kept: dict[str, tuple[float, Service]] = {}

_MULTI = ("emails", "phoneNumbers", "ims", "photos", "addresses", "entitlements", "roles")
_PLAIN_USER = Schema(
    id=CORE_USER,
    attributes=[
        Attribute(name="userName", required=True, uniqueness="server"),
        Attribute(name="active", type="boolean"),
        Attribute(name="name", type="complex"),
        *(
            Attribute(
                name=name,
                type="complex",
                multiValued=True,
                subAttributes=[Attribute(name="primary", type="boolean")],
            )
            for name in _MULTI
        ),
        Attribute(name="groups", type="complex", multiValued=True, mutability="readOnly"),
    ],
)
_PLAIN_GROUP = Schema(
    id=CORE_GROUP,
    attributes=[
        Attribute(name="displayName", required=True),
        Attribute(name="members", type="complex", multiValued=True),
    ],
)
PLAIN_TYPES = [
    ResourceType(
        name="User",
        endpoint="/Users",
        schema=CORE_USER,
        schemaExtensions=[SchemaExtension(schema=ENTERPRISE_USER)],
    ),
    ResourceType(name="Group", endpoint="/Groups", schema=CORE_GROUP),
]
PLAIN_CONFIG = ServiceProviderConfig(patch=Supported(supported=True), filter=Filter(supported=True))


@dataclass(frozen=True)
class Service:
    config: ServiceProviderConfig
    types: dict[str, ResourceType]
    """By name, lower case."""
    schemas: dict[str, Schema]
    """By URN, lower case."""
    served: tuple[str, ...] = field(default=())
    """Which of the three discovery endpoints answered."""

    def resource_type(self, name: str) -> ResourceType:
        found = self.types.get(name.lower())
        if found is None:
            known = ", ".join(t.name for t in self.types.values()) or "none"
            raise BadInput(f"scim: the service has no resource type {name!r} (it has {known})")
        return found

    def attribute(self, kind: ResourceType, path: Path) -> Attribute | None:
        """The schema's description of the path's attribute (not of its sub-attribute)."""
        schema = self.schemas.get((path.schema or kind.schema).lower())
        if schema is None:
            return None
        return _named(schema.attributes, path.attr)

    def sub_attribute(self, kind: ResourceType, path: Path) -> Attribute | None:
        top = self.attribute(kind, path)
        if top is None or not top.subAttributes:
            return top if top is not None and not path.sub else None
        return _named(top.subAttributes, path.item_sub)

    def page_size(self, wanted: int) -> int:
        most = self.config.filter.maxResults
        return max(1, min(wanted, most) if most > 0 else wanted)


def _named(attributes: list[Attribute], name: str) -> Attribute | None:
    folded = name.lower()
    return next((a for a in attributes if a.name.lower() == folded), None)


async def discover(session: Session, *, fresh: bool = False) -> Service:
    kept = _kept.get(session.base)
    if kept is not None and not fresh and kept[0] > time.monotonic():
        return kept[1]
    served: list[str] = []
    config = PLAIN_CONFIG
    if (raw := await _optional(session, "ServiceProviderConfig")) is not None:
        config = msgspec.json.decode(raw, type=ServiceProviderConfig)
        served.append("ServiceProviderConfig")
    types = PLAIN_TYPES
    if (raw := await _optional(session, "ResourceTypes")) is not None:
        types = _listed(raw, ResourceType) or PLAIN_TYPES
        served.append("ResourceTypes")
    schemas = [_PLAIN_USER, _PLAIN_GROUP]
    if (raw := await _optional(session, "Schemas")) is not None:
        schemas = _listed(raw, Schema) or schemas
        served.append("Schemas")
    service = Service(
        config,
        {t.name.lower(): t for t in types},
        {s.id.lower(): s for s in schemas},
        tuple(served),
    )
    _kept[session.base] = (time.monotonic() + KEEP, service)
    return service


async def _optional(session: Session, path: str) -> bytes | None:
    """A discovery document, or None when the service does not serve it (404, 501…)."""
    answer = await session.send("GET", path)
    return answer.content if answer.status_code == 200 else None


def _listed(raw: bytes, kind: type[T]) -> list[T]:
    """The items of a ListResponse (or of a bare JSON list, as some services answer)."""
    try:
        decoded = msgspec.json.decode(raw)
        items = (
            decoded
            if isinstance(decoded, list)
            else msgspec.convert(decoded, ListResponse).resources
        )
        return [msgspec.convert(item, kind) for item in items]
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise BadInput(f"scim: a discovery answer could not be read ({e})") from e
