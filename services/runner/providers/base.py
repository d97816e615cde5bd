"""The provider protocol: read records as a stream of batches; apply batches of changes.

A provider is opened for one side of one job (`Endpoint`) with its `Connection`
and the job's `Layout` of that side. It reads every record in scope as batches of
normalized records (no empty values, typed values in canonical text). A writable
provider applies a batch of changes and reports one outcome per change; applying
the same batch twice changes nothing the second time (create-if-absent, set to a
value, delete-if-present).

Errors: `BadInput` for what a person must fix (a missing file, a ragged row, a bad
encoding), `Transient` for what may pass (a locked database: the whole batch is
rolled back and retried later), `WriteFailed` for a destination that cannot be
written at all. The failure of one change is returned as that change's outcome,
not raised, and the other changes of the batch are still applied.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import msgspec

from schemas.connections import Connection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record


class Outcome(msgspec.Struct, frozen=True):
    """What became of one change: `error` is None when it was applied."""

    error: str | None = None


class Layout(msgspec.Struct, frozen=True, kw_only=True):
    """What a provider needs to know of the job's fields on its side.

    `keys`: the fields that identify an object. `fields`: every field the job maps
    on this side, in order (to create a table or a header when there is none yet;
    empty when the job copies every field). `multi_valued`: field name → the
    delimiter that joins its values where one column holds them (CSV, SQL).
    """

    keys: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    multi_valued: Mapping[str, str] = msgspec.field(default_factory=dict)
    container: str | None = None
    """Directories: where new objects are created when a change names no container;
    the endpoint's container when None."""
    object_classes: tuple[str, ...] = ()
    """Directories: the classes new objects get; the endpoint's when empty."""
    identifiers: bool = False
    """Each record read carries its identifier under "@id" where the provider has one
    besides the key (an LDAP DN): what references resolve to."""


class Provider(Protocol):
    """One side of a job."""

    async def open(self, *, write: bool) -> None:
        """Connect and learn the schema. With `write`, raise now (WriteFailed or BadInput)
        when this side cannot be written at all — before any plan is made. Writes nothing."""
        ...

    def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        """Every record in scope, in batches of at most `batch_size`. A side that does not
        exist yet (no file, no table) as a destination reads as empty."""
        ...

    def canonical(self, record: Record) -> Record:
        """The record as this side would store it and read it back (e.g. "042" in an
        INTEGER column reads back as "42"), so a plan never shows phantom updates."""
        ...

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        """Apply the changes in order; one outcome per change."""
        ...

    async def close(self) -> None: ...


class ProviderFactory(Protocol):
    def __call__(self, connection: Connection, endpoint: Endpoint, layout: Layout) -> Provider: ...
