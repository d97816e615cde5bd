"""A SCIM 2.0 service as one side of a job: one resource type (the side's `object_classes`,
User by default), read with the side's `query` as SCIM filter, written by write.py.

Field names are SCIM attribute paths (paths.py). A destination's records hold the fields
the job maps (and, where references need them, the id under "@id"); a source's hold every
value of each resource (`flatten`). Opening reads what the service supports (discovery.py)
and writes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from core.errors import BadInput
from core.scim.paths import Path, as_value, flatten, value_at
from schemas.connections import ScimConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record, Value, normalize

from ..base import Layout, Outcome
from .connection import Session
from .discovery import Service, discover
from .edits import Field
from .lookup import KEYS_PER_SEARCH, held_filter, key_filter
from .messages import ResourceType
from .read import pages
from .values import canonical_text, to_json
from .write import Writer

ID_FIELD = "@id"


class ScimProvider:
    def __init__(self, connection: ScimConnection, endpoint: Endpoint, layout: Layout) -> None:
        self._connection = connection
        self._layout = layout
        self._type = (endpoint.object_classes or ["User"])[0]
        self._query = endpoint.query
        self._session: Session | None = None
        self._service: Service | None = None
        self._kind: ResourceType | None = None
        self._fields: dict[str, Field] = {}
        names = dict.fromkeys([*layout.keys, *layout.fields])
        self._paths = {name: Path.parse(name) for name in names}
        self._reads = {name: Path.parse(name) for name in layout.reads if _parses(name)}
        """A source's fields the job reads: each is found as the service spells it too
        (attribute names compare without case: "username" is userName)."""

    @property
    def keys_fold(self) -> bool | None:
        """userName compares without case (RFC 7643: not caseExact), so "Ann" and "ann"
        are one user (base.py); other keys: not known."""
        keys = self._layout.keys
        return True if keys and all(key.casefold() == "username" for key in keys) else None

    def value_folds(self, field: str) -> bool:
        """Whether the service compares `field`'s values without case: userName (RFC 7643),
        which a reference `by` it is looked up as."""
        return field.casefold() == "username"

    async def open(self, *, write: bool) -> None:
        self._session = Session(self._connection)
        self._service = await discover(self._session)
        self._kind = self._service.resource_type(self._type)
        self._fields = {name: self._field(path) for name, path in self._paths.items()}

    def _field(self, path: Path) -> Field:
        assert self._service is not None and self._kind is not None
        return Field(
            path,
            self._service.attribute(self._kind, path),
            self._service.sub_attribute(self._kind, path),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # Reading.

    def _attributes(self) -> list[str] | None:
        if not self._layout.fields:
            return None
        return list(dict.fromkeys(path.top for path in self._paths.values()))

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        assert self._session is not None and self._service is not None and self._kind
        count = self._service.page_size(min(batch_size, self._connection.page_size))
        async for page in pages(self._session, self._kind, count, self._query, self._attributes()):
            records = [self._record(resource) for resource in page]
            for start in range(0, len(records), batch_size):
                yield records[start : start + batch_size]

    def misses_records(self) -> bool:
        """A read by offset (`startIndex`) skips a resource when another before it is
        deleted between two pages while a third is added (base.py `MissesRecords`): a
        full run looks up the objects it takes for absent before it acts on them."""
        return True

    def reads_keys(self, field: str) -> bool:
        """Any attribute path filters (`userName`, `externalId`, `emails[type eq
        "work"].value`): base.py `KeyReader`."""
        return _parses(field)

    async def read_keys(
        self, field: str, values: Sequence[str], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        """The resources in scope whose `field` is one of `values`, as `read` gives them:
        the side's `query` and `field eq "a" or field eq "b" …`, KEYS_PER_SEARCH values
        a search. A service compares a case-insensitive attribute (userName) without
        regard to case: it may give more resources than asked for, never fewer."""
        path = Path.parse(field)
        wanted = list(dict.fromkeys(values))
        found = [key_filter([path], [value]) for value in wanted]
        async for batch in self._searched(found, batch_size):
            yield batch

    async def read_holding(
        self, field: str, parts: Sequence[Sequence[str]], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        """The resources in scope whose `field` holds each text of one of `parts`, as
        `read` gives them: the side's `query` and `(field co "a" and field co "b") or …`,
        KEYS_PER_SEARCH keys a search (base.py `HoldingReader`). `co` finds a value with
        spaces around it, which `eq` does not; a service compares a case-insensitive
        attribute (userName) without regard to case. A service that refuses `co` answers
        400 (`BadInput`)."""
        path = Path.parse(field)
        wanted = list(dict.fromkeys(tuple(texts) for texts in parts if texts))
        async for batch in self._searched([held_filter(path, t) for t in wanted], batch_size):
            yield batch

    async def _searched(
        self, filters: Sequence[str], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        """The resources in scope any of `filters` finds, as `read` gives them: the side's
        `query` and KEYS_PER_SEARCH of the filters (or'd) a search."""
        assert self._session is not None and self._service is not None and self._kind
        count = self._service.page_size(min(batch_size, self._connection.page_size))
        for start in range(0, len(filters), KEYS_PER_SEARCH):
            some = filters[start : start + KEYS_PER_SEARCH]
            text = " or ".join(f"({each})" for each in some) if len(some) > 1 else some[0]
            if self._query:
                text = f"({self._query}) and ({text})"
            async for page in pages(self._session, self._kind, count, text, self._attributes()):
                yield [self._record(resource) for resource in page]

    def _record(self, resource: dict[str, Any]) -> Record:
        if not self._layout.fields:
            found: dict[str, Value | None] = {
                name: as_value(value, False) for name, value in flatten(resource).items()
            }
            for name, path in self._reads.items():
                if name not in found and (value := value_at(resource, path)) is not None:
                    found[name] = as_value(value, False)
        else:
            multi = self._layout.multi_valued
            found = {
                name: _unordered(as_value(value_at(resource, path), name in multi))
                if name in multi
                else as_value(value_at(resource, path), False)
                for name, path in self._paths.items()
            }
        if self._layout.identifiers:
            found[ID_FIELD] = as_value(resource.get("id"), False)
        return normalize(found)

    def canonical(self, record: Record) -> Record:
        out: dict[str, Value | None] = {}
        for name, value in record.items():
            if name.startswith("@"):
                out[name] = value
                continue
            f = self._fields.get(name)
            attribute = f.item if f is not None else None
            if isinstance(value, list):
                texts = [canonical_text(v, attribute) for v in value]
                out[name] = sorted(texts) if name in self._layout.multi_valued else texts
            elif isinstance(value, str):
                text = canonical_text(value, attribute)
                out[name] = [text] if name in self._layout.multi_valued else text
            else:
                out[name] = value
        return normalize(out)

    # Writing.

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        if not changes:
            return []
        assert self._session is not None and self._service is not None and self._kind
        writer = Writer(
            self._session,
            self._service,
            self._kind,
            dict(self._fields),
            [self._paths.get(k) or Path.parse(k) for k in self._layout.keys],
            self._layout.keys,
            _typed,
            self._connection.concurrency,
        )
        if not self._layout.keys:
            names = list(changes[0].match)
            writer.keys = [Path.parse(n) for n in names]
            writer.key_names = tuple(names)
        return await writer.apply(changes)

    def identifier(self, change: Change) -> str | None:
        """What references to a resource this run creates are written as until it exists:
        the search that finds it (`/Users?filter=userName eq "jdoe"`); the writer turns it
        into the id."""
        assert self._kind is not None
        names = self._layout.keys or tuple(change.match)
        values = [change.match.get(n) for n in names]
        texts = [v[0] if isinstance(v, list) and v else v for v in values]
        if not all(isinstance(t, str) and t for t in texts):
            return None
        paths = [self._paths.get(n) or Path.parse(n) for n in names]
        return f"{self._kind.endpoint}?filter={key_filter(paths, [str(t) for t in texts])}"


def _typed(field: Field, text: str) -> Any:
    try:
        return to_json(text, field.item)
    except ValueError as e:
        raise ValueError(f"{field.path.text}: {e}") from None


def _unordered(value: Value | None) -> Value | None:
    """A multi-valued attribute's values in one order: a service gives them back in an
    order of its own (SCIM keeps none), so values listed in another order are the same."""
    return sorted(value) if isinstance(value, list) else value


def _parses(name: str) -> bool:
    """Whether `name` reads as a SCIM field (`Path`)."""
    try:
        Path.parse(name)
    except BadInput:
        return False
    return True
