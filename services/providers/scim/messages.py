"""SCIM's protocol messages (RFC 7644) as msgspec Structs, decoded once per answer.

Resources themselves stay JSON objects: their attributes are whatever the service's
schemas say (extensions, custom attributes), read through paths.py. Unknown fields are
ignored and names follow the RFC's spelling, so any service's answer decodes.
"""

from __future__ import annotations

from typing import Any

import msgspec

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


class ListResponse(msgspec.Struct, kw_only=True, rename={"resources": "Resources"}):
    totalResults: int | None = None
    """Required (RFC 7644), yet left out by some services: None then."""
    startIndex: int = 1
    itemsPerPage: int | None = None
    resources: list[dict[str, Any]] = msgspec.field(default_factory=list)


class Error(msgspec.Struct, kw_only=True):
    """An error as SCIM words it; `status` is text in the RFC, a number in some services."""

    status: str | int | None = None
    scimType: str | None = None
    detail: str | None = None


class Supported(msgspec.Struct, kw_only=True):
    supported: bool = False


class Bulk(Supported, kw_only=True):
    maxOperations: int = 0
    maxPayloadSize: int = 0


class Filter(Supported, kw_only=True):
    maxResults: int = 0


class ServiceProviderConfig(msgspec.Struct, kw_only=True):
    patch: Supported = msgspec.field(default_factory=Supported)
    bulk: Bulk = msgspec.field(default_factory=Bulk)
    filter: Filter = msgspec.field(default_factory=Filter)
    sort: Supported = msgspec.field(default_factory=Supported)
    etag: Supported = msgspec.field(default_factory=Supported)


class SchemaExtension(msgspec.Struct, kw_only=True):
    schema: str
    required: bool = False


class ResourceType(msgspec.Struct, kw_only=True):
    name: str
    endpoint: str
    schema: str
    schemaExtensions: list[SchemaExtension] = msgspec.field(default_factory=list)


class Attribute(msgspec.Struct, kw_only=True):
    name: str
    type: str = "string"
    multiValued: bool = False
    required: bool = False
    caseExact: bool = False
    mutability: str = "readWrite"
    uniqueness: str = "none"
    subAttributes: list[Attribute] = msgspec.field(default_factory=list)


class Schema(msgspec.Struct, kw_only=True):
    id: str
    name: str | None = None
    attributes: list[Attribute] = msgspec.field(default_factory=list)


class BulkOperationResult(msgspec.Struct, kw_only=True):
    method: str = ""
    bulkId: str | None = None
    location: str | None = None
    version: str | None = None
    status: str | int = ""
    response: Any = None


class BulkResponse(msgspec.Struct, kw_only=True, rename={"operations": "Operations"}):
    operations: list[BulkOperationResult] = msgspec.field(default_factory=list)


def error_text(status: int, body: bytes) -> str:
    """ "409 uniqueness: One or more …" from an answer, whatever its shape."""
    try:
        error = msgspec.json.decode(body, type=Error)
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = body.decode("utf-8", "replace").strip()[:300]
        return f"{status}: {text}" if text else str(status)
    return words(status, error)


def words(status: int | str, error: Error) -> str:
    head = f"{status} {error.scimType}" if error.scimType else f"{status}"
    return f"{head}: {error.detail}" if error.detail else head
