"""One side of a job on a PostgreSQL database: connecting (TLS, the password reference,
timeouts), what the catalogue says of the table (its columns and their types), and how
the server's errors are told. read.py and write.py build on it."""

from __future__ import annotations

import ssl
from typing import Literal

import asyncpg

from core.errors import BadInput, Unreachable, WriteFailed
from schemas.connections import PostgresqlConnection
from schemas.jobs import Endpoint

from ..base import Layout
from ..sql.table import SqlTable, close_names, password_of
from ..sql.values import compact_json
from .values import Column, quote

_COLUMNS = """
SELECT a.attname, coalesce(e.typname, t.typname), format_type(a.atttypid, a.atttypmod),
       e.oid IS NOT NULL, a.atttypmod
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
_TABLE = """
SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = coalesce($1, current_schema()) AND c.relname = $2
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""
_UNIQUE = """
SELECT array_agg(a.attname::text) FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
GROUP BY i.indexrelid
"""
_TABLES = """
SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
"""


def _ssl(
    connection: PostgresqlConnection,
) -> ssl.SSLContext | Literal["prefer", "require"] | bool:
    mode = connection.sslmode
    if mode == "verify-ca" or mode == "verify-full":
        context = ssl.create_default_context(cafile=connection.ca_file)
        context.check_hostname = mode == "verify-full"
        return context
    return False if mode == "disable" else mode


async def connect(connection: PostgresqlConnection) -> asyncpg.Connection:
    """A logged-in connection whose session speaks UTC (timestamps without a zone are UTC)."""
    where = f"postgresql connection {connection.id!r}"
    password = password_of(where, connection)
    target = f"{connection.host}:{connection.port}/{connection.database}"
    try:
        conn = await asyncpg.connect(
            host=connection.host,
            port=connection.port,
            user=connection.user,
            password=password,
            database=connection.database,
            ssl=_ssl(connection),
            timeout=connection.timeouts.connect,
            command_timeout=connection.timeouts.statement,
            # Nothing is prepared twice: each batch's staging table is a new one, and a
            # connection pooler in front of the server keeps no statements either.
            statement_cache_size=0,
            server_settings={"TimeZone": "UTC", "application_name": "idsync"},
        )
    except (
        asyncpg.InvalidPasswordError,
        asyncpg.InvalidAuthorizationSpecificationError,
        asyncpg.InvalidCatalogNameError,
    ) as e:
        raise BadInput(f"{where}: {target} refused {connection.user!r}: {e}") from e
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        raise Unreachable(f"{where}: cannot connect to {target}: {e}") from e
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=str, decoder=compact_json, format="text"
        )
    return conn


def transient(e: BaseException) -> bool:
    """A failure that may pass: a lost connection, a timeout, a deadlock, a server busy."""
    if isinstance(e, OSError | TimeoutError | asyncpg.InterfaceError):
        return True
    state = str(getattr(e, "sqlstate", "") or "")
    return state[:2] in ("08", "40", "53", "57") or state == "55P03"  # lock_not_available


class PostgresqlTable(SqlTable[PostgresqlConnection, Column]):
    """One job side: a table (read and written) or a SELECT (read only)."""

    tag = "postgresql"

    def __init__(
        self, connection: PostgresqlConnection, endpoint: Endpoint, layout: Layout
    ) -> None:
        super().__init__(connection, endpoint, layout)
        self._q = ".".join(quote(part) for part in (self._schema, self._table) if part)

    async def open(self, *, write: bool) -> None:
        await self.close()
        self._write = write
        self._refuse_query_writes(write)
        self._conn = await connect(self._connection)
        try:
            if self._query is not None:
                statement = await self._conn.prepare(self._query)
                self._fields = [attribute.name for attribute in statement.get_attributes()]
                return
            await self.load_columns(self._conn)
            self._known = bool(self._columns)
            if not self._columns and not write:
                raise BadInput(f"{self._where} not found{await self._close_tables()}")
            if write and self._columns:
                await self._check_privileges(self._conn)
        except asyncpg.PostgresError as e:
            await self.close()
            raise self.error(e, "read" if not write else "open") from e
        except BaseException:
            await self.close()
            raise

    async def _check_privileges(self, conn: asyncpg.Connection) -> None:
        sql = "SELECT p FROM unnest($2::text[]) AS p WHERE NOT has_table_privilege($1::regclass, p)"
        rows = await conn.fetch(sql, self._q, ["SELECT", "INSERT", "UPDATE", "DELETE"])
        missing = [str(row[0]) for row in rows]
        if missing:
            raise WriteFailed(
                f"{self._where}: {self._connection.user!r} may not {', '.join(missing)} "
                f"there; GRANT {', '.join(missing)} ON {self._q} TO {quote(self._connection.user)}"
            )

    async def load_columns(self, conn: asyncpg.Connection) -> None:
        oid = await conn.fetchval(_TABLE, self._schema, self._table)
        rows = await conn.fetch(_COLUMNS, oid) if oid is not None else []
        self._columns = {
            str(name): Column(
                str(name),
                str(type_name),
                str(declared),
                bool(array),
                (int(mod) - 4) & 0xFFFF if type_name == "numeric" and int(mod) >= 4 else None,
            )
            for name, type_name, declared, array, mod in rows
        }
        indexes = await conn.fetch(_UNIQUE, oid) if oid is not None else []
        self._unique = [frozenset(row[0]) for row in indexes]

    async def _close_tables(self) -> str:
        """ "; did you mean …" with the tables whose names are close to the one asked for."""
        assert self._conn is not None
        names = [str(row[0]) for row in await self._conn.fetch(_TABLES)]
        return close_names(self._name if self._schema else f"public.{self._table}", names)

    def transient(self, e: BaseException) -> bool:
        return transient(e)

    def denied(self, e: BaseException) -> bool:
        return str(getattr(e, "sqlstate", "") or "") == "42501"  # insufficient_privilege

    async def hang_up(self, conn: asyncpg.Connection) -> None:
        await conn.close()
