"""Connections: where the data lives. One Struct per provider, tagged by `provider`.

Secrets are references (an environment variable or a file), never values.
"""

from __future__ import annotations

import msgspec


class SecretRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where a secret is read from at the moment it is needed."""

    env: str | None = None
    file: str | None = None


class _Connection(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="provider"
):
    id: str = ""
    title: str = ""


class CsvConnection(_Connection, tag="csv", frozen=True):
    """A folder of delimited text files."""

    directory: str
    delimiter: str = ","
    quote_char: str = '"'
    encoding: str = "utf-8"


class SqliteConnection(_Connection, tag="sqlite", frozen=True):
    """A SQLite database file (created when missing)."""

    path: str


Connection = CsvConnection | SqliteConnection

PROVIDERS: tuple[str, ...] = tuple(
    str(cls.__struct_config__.tag) for cls in (CsvConnection, SqliteConnection)
)

# Fields that name a file or folder: relative paths are made absolute when applied.
PATH_FIELDS: dict[str, tuple[str, ...]] = {"csv": ("directory",), "sqlite": ("path",)}
