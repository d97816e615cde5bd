"""A push: the users of a SCIM request as records of the job's source, each with the key
the job matches it by.

Each user becomes a record the way the SCIM provider reads a resource (every value under
the field name that reads it: `userName`, `name.givenName`, `emails[type eq "work"].value`,
an extension's `urn:…:department`), is kept under its own key (`externalId`, else
`userName`), and is mapped with the job's first [[objects]] entry to learn the key its
run is scoped to. A user the mapping refuses (a transformation that fails, no key), a
resource that is no user, or a user whose attributes are not of SCIM's shapes
(`shape_problem`) is that operation's error, answered at once, and is not stored. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.engine.context import MappingContext
from core.engine.keys import display_key
from core.engine.mapping import compile_mapping
from core.engine.transforms_base import RecordFailed
from core.errors import BadInput
from core.scim.paths import flat_record
from schemas.jobs import Job
from schemas.values import Record

USERS = "/Users"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


@dataclass(frozen=True)
class Operation:
    """One user of a request: its bulkId and method (for the answer), and what became of it."""

    method: str
    bulk_id: str | None
    own_key: str | None = None
    """The user's own key (externalId, else userName): where it is stored."""
    record: Record | None = None
    key: str | None = None
    """The job's key for it (the first key field's value): what the run is scoped to."""
    shown: str | None = None
    """The key as runs show it (all key fields)."""
    status: int = 202
    error: str | None = None
    scim_type: str | None = None


def from_bulk(body: Any) -> list[tuple[str, str | None, str, Any]]:
    """(method, bulkId, path, data) of each operation of a BulkRequest."""
    operations = body.get("Operations") if isinstance(body, dict) else None
    if not isinstance(operations, list):
        raise BadInput('expected a BulkRequest: {"schemas": […], "Operations": […]}')
    out = []
    for op in operations:
        op = op if isinstance(op, dict) else {}
        bulk_id = op.get("bulkId")
        out.append(
            (
                str(op.get("method", "")).upper(),
                bulk_id if isinstance(bulk_id, str) else None,
                str(op.get("path", "")),
                op.get("data"),
            )
        )
    return out


def read_operations(job: Job, items: list[tuple[str, str | None, str, Any]]) -> list[Operation]:
    mapping = job.objects[0]
    context = MappingContext(job_id=job.id, run_id="", now=datetime.now(UTC))
    compiled = compile_mapping(mapping, context)
    return [_operation(compiled, mapping.keys, *item) for item in items]


def _operation(
    compiled: Any, keys: list[str], method: str, bulk_id: str | None, path: str, data: Any
) -> Operation:
    def refused(text: str, scim_type: str = "invalidValue", status: int = 400) -> Operation:
        return Operation(method, bulk_id, status=status, error=text, scim_type=scim_type)

    if method not in ("POST", "PUT"):
        return refused(
            f"{method or 'no method'}: push each user whole with POST or PUT (a leaver with "
            '"active": false); PATCH and DELETE are not taken',
            "invalidSyntax",
            405 if method in ("PATCH", "DELETE") else 400,
        )
    if not (path == USERS or path.startswith(USERS + "/")):
        return refused(f"{path!r}: only users are taken here (path /Users)", "invalidPath")
    if not isinstance(data, dict):
        return refused("the operation has no user (data)", "invalidSyntax")
    schemas = data.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or USER_SCHEMA not in schemas):
        # A group (or anything else) sent to /Users is not kept as a user named by its
        # externalId; a user that lists no schemas at all is taken, as lenient clients send.
        return refused(f"schemas {schemas!r}: only users are taken here ({USER_SCHEMA})")
    if (problem := shape_problem(data)) is not None:
        return refused(problem, "invalidSyntax")
    record = flat_record({k: v for k, v in data.items() if k not in ("id", "meta")})
    own = record.get("externalId") or record.get("userName")
    if not isinstance(own, str):
        return refused("the user has neither externalId nor userName", "invalidValue")
    try:
        mapped = compiled.map(record)
    except RecordFailed as failed:
        return refused(str(failed))
    key = mapped.get(keys[0])
    if not isinstance(key, str) or not key:
        return refused(f"the user maps to no value of the job's key {keys[0]!r}")
    return Operation(method, bulk_id, own, record, key, display_key(mapped, keys))


# The core User schema's complex attributes (RFC 7643 §4.1): `name` one object, these
# lists of objects; the enterprise extension's are simple but its `manager` (§4.3).
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SINGLE_COMPLEX = frozenset({"name"})
MULTI_COMPLEX = frozenset(
    name.lower()
    for name in (
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
    )
)


def shape_problem(user: dict[str, Any]) -> str | None:
    """Why the user's JSON is not of the shape SCIM gives a user, or None. A value of
    another shape would be read as no value (`"name": "Ada"` has no `name.givenName`) and
    the run would clear the field it feeds: refused instead, naming the attribute."""
    for name, value in user.items():
        where = name.lower()
        if where.startswith("urn:"):
            if isinstance(value, dict):
                for attr, inner in value.items():
                    simple = where == ENTERPRISE.lower() and attr.lower() != "manager"
                    if simple and isinstance(inner, dict | list):
                        return f"{name}:{attr}: expected a simple value, got {_kind(inner)}"
                    if (problem := _nested(f"{name}:{attr}", inner)) is not None:
                        return problem
            continue
        if value is None:
            continue
        if where in SINGLE_COMPLEX and not isinstance(value, dict):
            return f"{name}: expected an object of sub-attributes, got {_kind(value)}"
        listed = isinstance(value, list) and all(isinstance(i, dict) for i in value)
        if where in MULTI_COMPLEX and not listed:
            return f'{name}: expected a list of objects ({{"value": …, "type": …}})'
        if (problem := _nested(name, value)) is not None:
            return problem
    return None


def _nested(name: str, value: Any) -> str | None:
    """A complex attribute's sub-attributes hold simple values (and a multi-valued one's
    items too): anything deeper would be read as no value."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, dict):
            continue
        for sub, inner in item.items():
            if isinstance(inner, dict | list):
                return f"{name}.{sub}: expected a simple value, got {_kind(inner)}"
    return None


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"[:80]
