"""MySQL and MariaDB tables via asyncmy: one row per object, one column per field, any type.

Names are backtick-quoted identifiers information_schema listed and values travel as
parameters, never in SQL text. connection.py connects and reads information_schema,
grants.py what the login may do, read.py streams a table or a job's SELECT, write.py
applies batches (statements.py builds their SQL), values.py converts values to canonical
text.
"""

from __future__ import annotations

from .read import MysqlReading
from .write import MysqlWriting


class MysqlProvider(MysqlReading, MysqlWriting):
    """One table (or one SELECT, as a source) of one MySQL or MariaDB database."""

    rereadable = True
    """Reading the table again is cheap: large plans read it twice (planning/low_memory)."""
