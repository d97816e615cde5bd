"""SQLite tables via aiosqlite: one row per object, one TEXT (or typed) column per field.

Names are always quoted identifiers and values always parameters. connection.py holds
the table's connection and what it knows of the table, read.py reads it, write.py
applies batches of changes (statements.py builds their SQL), values.py converts values.
"""

from __future__ import annotations

from .read import SqliteReading
from .write import SqliteWriting


class SqliteProvider(SqliteReading, SqliteWriting):
    """One table of one SQLite database file."""

    rereadable = True
    """Reading the table again is cheap: large plans read it twice (planning/low_memory)."""
