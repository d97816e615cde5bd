"""Jobs: what moves where, matched by which keys, mapped how, and when."""

from __future__ import annotations

from typing import Literal

import msgspec

OnSourceOnly = Literal["create", "skip"]
OnBoth = Literal["update", "skip"]
OnDestinationOnly = Literal["delete", "disable", "move", "skip"]


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Endpoint(_Strict, frozen=True):
    """One side of a job: a connection and the scope within it."""

    connection: str
    file: str | None = None
    """A file in the connection's folder (CSV)."""
    table: str | None = None
    """A table (SQL databases)."""
    delimiter: str | None = None
    """Overrides the connection's delimiter (CSV)."""
    quote_char: str | None = None
    encoding: str | None = None


class FieldMap(_Strict, frozen=True):
    """One destination field and where its value comes from."""

    to: str
    from_: str | None = msgspec.field(default=None, name="from")
    """The source field; the same name as `to` when left out."""
    create_only: bool = False
    """Written when the object is created, never updated afterwards."""
    delimiter: str | None = None
    """Multi-valued: split the source text on it, join with it where one column holds the list."""

    @property
    def source(self) -> str:
        return self.from_ or self.to


class ObjectMapping(_Strict, frozen=True):
    """How records of one object type are matched, acted on and mapped."""

    keys: list[str]
    """Destination fields whose values identify an object; at least one."""
    type: str = "user"
    case_insensitive: bool = False
    on_source_only: OnSourceOnly = "create"
    on_both: OnBoth = "update"
    on_destination_only: OnDestinationOnly = "skip"
    fields: list[FieldMap] = msgspec.field(default_factory=list)
    """Empty: every source field is copied under its own name."""


class Schedule(_Strict, frozen=True):
    every: str | None = None
    """An interval such as "30s", "15m", "2h" or "1d"."""


class Job(_Strict, frozen=True):
    id: str
    """An immutable slug ([a-z0-9_-]); renaming a job changes its title."""
    source: Endpoint
    destination: Endpoint
    objects: list[ObjectMapping]
    title: str = ""
    description: str = ""
    owners: list[str] = msgspec.field(default_factory=list)
    schedule: Schedule | None = None
    enabled: bool = True
    batch_size: int = 1000
    """Most changes in one applied batch (batches also stay under 512 KiB)."""

    @property
    def display_title(self) -> str:
        return self.title or self.id
