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

Optional: `rereadable = True` says reading this side again is cheap (a file, a local
table), so large plans read the destination twice instead of holding it (planning/low_memory.py);
`keys_fold = True` says the destination compares key values without case (a directory:
"Ann" and "ann" are one object), `False` that it compares them with case (a file), and
its absence that it is not known (planning/: a job comparing keys with case refuses
source keys that differ only in case where they fold, core/engine/plan.py);
`value_folds(field)` says the destination compares that field's values without case
(an LDAP attribute's equality rule, a citext or `_ci` column): a reference `by` it is
looked up so (core/engine/planned_state.py), and a field merged adds no value it holds
in another case (core/engine/policies.py);
`create_refusal`, when not None, says why the destination refuses a create before it is
sent (an LDAP entry its values put out of the endpoint's query): the planner fails that
record alone (core/engine/planner.py);
`Places` names where a source holds a record (a file's line);
`ChangeReader` below is what incremental runs need of a source (`FallsBack`, what one
whose change feed can be lost tells of it); `Staging` lets a
destination write a run's batches together; `KeyReader` lets a run
scoped to some keys read only their records; `MissesRecords` says a source's whole read
may miss a record, so that a full run confirms an absence before acting on it (by
`HoldingReader`, which finds a key in every spelling, where the source has it).
`source_fields()`
(after `open`) names every field a source's records can have, where the source knows
them (a header, a table's columns): a job mapping a field not among them fails before
anything is planned, instead of reading every record without it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import msgspec

from schemas.connections import Connection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record, TextRows, Value
from schemas.work import Creates


class Outcome(msgspec.Struct, frozen=True):
    """What became of one change: `error` is None when it was applied."""

    error: str | None = None
    missing: bool = False
    """An update that found no object under its key (with its `error`)."""


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
    references: tuple[str, ...] = ()
    """Destinations: the fields whose values name other objects, resolved by the planner
    (`resolve`): what a record maps them to is no value to spell as the field holds one
    (`canonical` leaves them as they are: a member's key "a = b" is no DN)."""
    containers: bool = False
    """Directories: each record read carries the container it is in (its parent DN)
    under "@container" (engine/containers.py), for the planner to move an object whose
    source now names another container."""
    reads: tuple[str, ...] = ()
    """Sources: the fields the job's mapping and filters read (keys, `from` fields, the
    fields transformations, `where` and `leavers` name); empty when the job copies every
    field. A source that must name what it fetches (Microsoft Graph's $select) reads
    only these."""
    every_field: bool = False
    """Sources: the job may read any field all the same (a script is given the whole
    record), so a source that asks only for `reads` (LDAP) asks for every field too."""


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


@runtime_checkable
class AppliesColumns(Protocol):
    """Optional: a destination that applies a batch of plain creates as its columns
    (schemas/work.py `Creates`), with no change made of them; the outcomes in order,
    as `apply` of the same changes gives them."""

    async def apply_columns(self, creates: Creates) -> list[Outcome]: ...


@runtime_checkable
class ChangeReader(Protocol):
    """Optional: a source that can read only the records changed since a watermark.

    Incremental runs (a job's `changes`) need it; full runs of such a job call it too,
    with `since=None`, so that they learn the watermark the next incremental run starts
    from. A watermark is opaque text that only the provider that made it reads: the
    highest value of the job's change field (CSV, SQLite: `changes.FieldChanges`
    compares them; PostgreSQL, MySQL tables: the server, `changes.HighestRead`), an
    LDAP modifyTimestamp or entryCSN, or — for Active Directory — something like
    "<server invocationId>:<highestCommittedUSN>" read before the search.
    A watermark the provider cannot use (made by another server, another field) means
    reading every record: never fewer records than changed.

    The runner keeps the watermark per job and stores the new one only after a run
    finishes without failed records, so a failed run is read again next time.
    """

    def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        """The records changed at or after `since` (every record when None), in batches as
        `read`. `field` is the job's `changes.field`; None asks for the provider's own
        change marker (a provider without one raises BadInput saying to set the field).
        Records at the watermark itself come again: harmless (they plan as unchanged),
        and nothing written in the same second as the last read is missed."""
        ...

    def watermark(self) -> str | None:
        """Once `read_changed` has been read to the end: where the next run starts from
        (None: nothing was seen, keep the one there was)."""
        ...


@runtime_checkable
class FallsBack(Protocol):
    """Optional, beside `ChangeReader`: a source whose change feed can be lost — a Graph
    delta link expires after 7 days, an LDAP changelog is trimmed, a SQL watermark's
    column is dropped — reads every record instead of the changes, and says so here. The
    runner then makes the run a full run: every record was read, so objects missing from
    the source are acted on as in any full run, and the run's story says why.

    Say it only once every record was read to the end: a read that fails part-way raises
    (the run fails), and a failure must never look like absence."""

    def fell_back(self) -> str | None:
        """Once `read_changed` was given a watermark and read to the end: why it read every
        record instead of the changes since (a few words: "the delta link had expired");
        None when it read only the changes, or was given no watermark."""
        ...


@runtime_checkable
class WarnsOfChanges(Protocol):
    """Optional, beside `ChangeReader`: a source that checks its change field's values
    (`changes.FieldChanges`) says which it read as changed without using them as the
    watermark, and a stored watermark it ignored; the plan's warnings carry them."""

    def change_warnings(self) -> list[str]:
        """Once `read_changed` has been read to the end (and `watermark` asked): the
        warnings of that read."""
        ...


@runtime_checkable
class Staging(Protocol):
    """Optional: a destination that every write rewrites whole (a workbook) stages a run's
    batches instead of applying each one, and writes them together when the run ends.

    `stage` keeps the batch durably before it returns (so it may be acknowledged) and
    gives the outcomes `apply` would give; staging a batch again changes nothing twice.
    `finish` writes every batch staged (the runner calls it when a run ends, however it
    ends). Reading the side, or applying to it directly, writes what is staged first."""

    async def stage(self, changes: list[Change]) -> list[Outcome]: ...

    async def finish(self) -> None: ...


@runtime_checkable
class KeyReader(Protocol):
    """Optional: a side that can look records up by the values of one field, so that a run
    scoped to some keys (`idsync job run --key`) reads those records, not every record.

    `read_keys` may give more records than asked for (a directory matching without regard
    to case) or fewer (a value stored in another spelling): the planner keeps only the
    records of the keys asked for, and reads the whole side when a key is not among them
    (planning/scoped.py). But it must not leave out a record whose key is one asked for
    as a run compares keys (core.engine.match_key) while giving another of that key: the
    planner would take the key as held once. SQL tables give exactly the records of the
    keys asked for, in any spelling (keyforms.py)."""

    def reads_keys(self, field: str) -> bool:
        """Whether `read_keys` can look records up by `field` here."""
        ...

    def read_keys(
        self, field: str, values: Sequence[str], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        """The records whose `field` holds one of `values`, in batches as `read`."""
        ...


@runtime_checkable
class FindsEveryKey(Protocol):
    """Optional besides `KeyReader`: a side that can say its lookups by a field miss
    nothing, so that a key they do not find is held by no record at all — a new object —
    and the run creates it without reading the whole side first (planning/scoped.py)."""

    def finds_every_key(self, field: str) -> bool:
        """Whether `read_keys(field, …)` gives every record a whole read would, of the keys
        asked for: each record whose `field`, compared as a run compares keys
        (core.engine.match_key, with case), is one of them, however it is spelled."""
        ...


@runtime_checkable
class HoldingReader(Protocol):
    """Optional besides `KeyReader`: a side that can look records up by texts their
    field's value holds (SCIM's `co`), so that a lookup finds a key in every spelling a
    run takes for it (core.engine.keys.key_parts): with spaces around it, in another
    Unicode form, in another case. planning/absence.py looks absent objects up so."""

    def read_holding(
        self, field: str, parts: Sequence[Sequence[str]], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        """The records whose `field` holds each text of one of `parts` (compared as the
        side compares that field's values: without case where it does) — maybe others —,
        in batches as `read`."""
        ...


@runtime_checkable
class MissesRecords(Protocol):
    """Optional: a source whose whole read may skip a record present throughout it — a
    read paged by offset (SCIM's `startIndex`): a record deleted behind the read while
    another is added keeps the total as it was, yet moves every record after it back a
    place, and the next page starts past one of them. The skipped record would be taken
    for absent, its object deleted, disabled or moved.

    So a full run looks the objects it would act on for absence up in such a source
    before it acts (planning/absence.py): by `HoldingReader.read_holding` (or
    `KeyReader.read_keys`) where their key is copied from a source field as it is and a
    lookup finds it in every spelling, else by reading the source whole once more. One
    the source holds after all fails the run (`Transient`: it is planned again later),
    and nothing is written."""

    def misses_records(self) -> bool:
        """Whether a whole read of this side may skip a record present throughout it."""
        ...


@runtime_checkable
class ComparesRows(Protocol):
    """Optional: a table that can give every row's key and its text in one piece, for a
    re-run to read whole only the rows that differ from their source records
    (planning/unless_same.py)."""

    def row_columns(self, key: str) -> list[str] | None:
        """The columns a row's text joins (every column of the table, in its order), where
        `read_unless_same` can be used with `key`; else None."""
        ...

    async def read_unless_same(
        self,
        key: str,
        choose: Callable[[list[str | None], list[str | None]], Awaitable[list[str] | None]],
        batch_size: int,
    ) -> list[Record]:
        """In one snapshot: every row's `key` and text (its cells joined by US, \\x1f, in
        `row_columns`' order; None where a cell is NULL) given to `choose`, which says the
        keys of the rows to read whole, in the order they were given (None: every row);
        then those rows, as `read` gives them, in the table's order."""
        ...


@runtime_checkable
class ReadsRows(Protocol):
    """Optional: a source that can give its batches as the rows of text it read, not made
    into records (a CSV file), for a re-run to compare a batch copied as it is with the
    table's rows a column at a time (planning/unless_same.py)."""

    def read_rows(self, batch_size: int) -> AsyncIterator[TextRows]:
        """`read`'s batches, each as its rows (`TextRows.records()` gives `read`'s)."""
        ...


@runtime_checkable
class Places(Protocol):
    """Optional: a source that can say where it holds a record (a file's line, a sheet's
    row), for a refusal to name it: two records sharing a key (planning/places.py)."""

    async def places(self, records: Sequence[Record]) -> list[str | None]:
        """Where each record is ("hr.csv:12"), as `read` gives them and in the order it
        gives them: each is looked for after the place of the one before, so two alike
        records are two places. None for one not found (the source changed since)."""
        ...


@runtime_checkable
class KeepsAsIs(Protocol):
    """Optional: a destination that can tell of a whole batch of mapped records at once that
    `canonical` gives each back as it is (SQLite, PostgreSQL and MySQL tables), so that a
    batch is not made canonical record by record."""

    def canonical_as_is(
        self, names: Sequence[str], columns: Sequence[Sequence[Value | None]]
    ) -> bool:
        """Whether `canonical` gives every record back as it is, the records given a field
        at a time: `names[i]`'s values in `columns[i]`, in the records' order, None where a
        record lacks the field. False may be said of a batch that is kept as it is too."""
        ...


class ProviderFactory(Protocol):
    def __call__(self, connection: Connection, endpoint: Endpoint, layout: Layout) -> Provider: ...
