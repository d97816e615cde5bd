"""PostgreSQL tables via asyncpg: one row per object, one column per field, any type.

Names are quoted identifiers the catalogue listed and values travel as parameters or in
COPY, never in SQL text. connection.py connects and reads the catalogue, read.py streams
a table or a job's SELECT, write.py applies batches (statements.py builds their SQL),
values.py converts values to canonical text.
"""

from __future__ import annotations

from .read import PostgresqlReading
from .write import PostgresqlWriting


class PostgresqlProvider(PostgresqlReading, PostgresqlWriting):
    """One table (or one SELECT, as a source) of one PostgreSQL database."""

    rereadable = True
    """Reading the table again is cheap: large plans read it twice (planning/low_memory)."""
