"""One side of a job on a PostgreSQL database: connecting (TLS, the password reference,
timeouts), what the catalogue says of the table (its columns and their types), and how
the server's errors are told. read.py and write.py build on it."""

from __future__ import annotations

import ssl
from functools import partial
from typing import Any, Literal, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from core.errors import BadInput, IdsyncError, Unreachable, WriteFailed
from schemas.connections import PostgresqlConnection
from schemas.jobs import Endpoint

from ..base import Layout
from ..sql.pools import Definition, Pools
from ..sql.table import Lent, SqlTable, close_names, in_another_case, password_of
from ..sql.values import compact_json
from .values import Column, described, quote, time_text

Pooled: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"
"""One of a pool's connections, lent."""

_COLUMNS = """
SELECT a.attname, coalesce(e.typname, t.typname), format_type(a.atttypid, a.atttypmod),
       e.oid IS NOT NULL, a.atttypmod, coalesce(co.collisdeterministic, true),
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, NULL) END, a.attnotnull
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
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
_OTHER_CASE = """
SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = coalesce($1, current_schema()) AND lower(c.relname) = lower($2)
  AND c.relname <> $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY 1 LIMIT 1
"""
_OWNS = """
SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass
"""
_SCHEMA = """
SELECT coalesce($1, current_schema()),
  (SELECT has_schema_privilege(n.oid, 'CREATE') FROM pg_catalog.pg_namespace n
   WHERE n.nspname = coalesce($1, current_schema()))
"""
_USAGE = """
SELECT coalesce($1, current_schema()), has_schema_privilege(coalesce($1, current_schema()), 'USAGE')
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


_connect: Any = asyncpg.connect
_create_pool: Any = asyncpg.create_pool  # the options as one mapping (`_options`)


def _options(connection: PostgresqlConnection, password: str | None) -> dict[str, Any]:
    """What asyncpg logs in with: a session that speaks UTC (timestamps without a zone
    are UTC) and shows a float's every digit, whatever the database or role sets
    (extra_float_digits 0 shows fifteen): a value compared as text is the value
    (statements.py `differs`, a key looked up as text)."""
    return {
        "host": connection.host,
        "port": connection.port,
        "user": connection.user,
        "password": password,
        "database": connection.database,
        "ssl": _ssl(connection),
        "timeout": connection.timeouts.connect,
        "command_timeout": connection.timeouts.statement,
        # Nothing is prepared twice: each batch's staging table is a new one, and a
        # connection pooler in front of the server keeps no statements either.
        "statement_cache_size": 0,
        "server_settings": {
            "TimeZone": "UTC",
            "extra_float_digits": "3",
            "application_name": "idsync",
        },
    }


async def _codecs(conn: asyncpg.Connection) -> None:
    """json and jsonb as text, compact with sorted keys; time as text (`time_text`)."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=str, decoder=compact_json, format="text"
        )
    await conn.set_type_codec(
        "time", schema="pg_catalog", encoder=str, decoder=time_text, format="text"
    )


def _failed(connection: PostgresqlConnection, e: BaseException) -> IdsyncError | None:
    """Why logging in failed, as the product says it (None: not a login's failure)."""
    where = f"postgresql connection {connection.id!r}"
    target = f"{connection.host}:{connection.port}/{connection.database}"
    if isinstance(
        e,
        asyncpg.InvalidPasswordError
        | asyncpg.InvalidAuthorizationSpecificationError
        | asyncpg.InvalidCatalogNameError,
    ):
        return BadInput(f"{where}: {target} refused {connection.user!r}: {e}")
    if isinstance(e, OSError | TimeoutError | asyncpg.PostgresError | asyncpg.InterfaceError):
        return Unreachable(f"{where}: cannot connect to {target}: {e}")
    return None


async def connect(connection: PostgresqlConnection) -> asyncpg.Connection:
    """A logged-in connection of its own, outside the pool (`reach`: a login tested anew)."""
    password = password_of(f"postgresql connection {connection.id!r}", connection)
    try:
        conn: asyncpg.Connection = await _connect(**_options(connection, password))
    except Exception as e:
        if (error := _failed(connection, e)) is not None:
            raise error from e
        raise
    await _codecs(conn)
    return conn


async def _make_pool(connection: Definition, password: str | None) -> asyncpg.Pool:
    assert isinstance(connection, PostgresqlConnection)
    # No connection is made before one is asked for; an idle one closes after 5 minutes.
    pool: asyncpg.Pool = await _create_pool(
        min_size=0,
        max_size=connection.pool_size,
        init=_codecs,
        **_options(connection, password),
    )
    return pool


async def _close_pool(pool: asyncpg.Pool) -> None:
    await pool.close()


async def _terminate_pool(pool: asyncpg.Pool) -> None:
    pool.terminate()


POOLS: Pools[asyncpg.Pool] = Pools(_make_pool, _close_pool, _terminate_pool)
"""The pools of this process, one per event loop and connection definition."""


async def acquire(connection: PostgresqlConnection, read: bool = False) -> Lent:
    """One of the pool's connections (its pool made on first use, a connection made when
    none is free and the pool holds fewer than `pool_size`); waits for one while all are
    in use. A `read` the pool may not lend one to (pools.py) gets one of its own."""
    password = password_of(f"postgresql connection {connection.id!r}", connection)
    return await POOLS.lend(
        connection, password, read, partial(connect, connection), partial(_failed, connection)
    )


async def give_back(lent: Lent, discard: bool) -> None:
    """A connection back to its pool, or closed: when `discard`, or a read's own."""
    conn: Pooled = lent.conn
    if lent.pool is None:
        if discard:
            conn.terminate()  # as a pooled one: no goodbye to a server that may be gone
        else:
            await conn.close()
        return
    if lent.read:
        POOLS.read_done(lent.pool)
    if discard:
        conn.terminate()  # the pool makes another when one is next asked for
    await lent.pool.release(conn)


def transient(e: BaseException) -> bool:
    """A failure that may pass: a lost connection, a timeout, a deadlock, a server busy."""
    if isinstance(e, OSError | TimeoutError | asyncpg.InterfaceError):
        return True
    state = str(getattr(e, "sqlstate", "") or "")
    return state[:2] in ("08", "40", "53", "57") or state == "55P03"  # lock_not_available


class PostgresqlTable(SqlTable[PostgresqlConnection, Column]):
    """One job side: a table (read and written) or a SELECT (read only)."""

    tag = "postgresql"
    _utf8 = False
    """The database's encoding is UTF8 (its text can be tested as a run compares keys)."""

    def __init__(
        self, connection: PostgresqlConnection, endpoint: Endpoint, layout: Layout
    ) -> None:
        super().__init__(connection, endpoint, layout)
        self._q = ".".join(quote(part) for part in (self._schema, self._table) if part)

    async def open(self, *, write: bool) -> None:
        await self.close()
        self._write = write
        self._refuse_query_writes(write)
        try:
            async with self.connection() as conn:
                await self._look(conn, write)
        except asyncpg.PostgresError as e:
            raise self.error(e, "read" if not write else "open") from e
        self._opened = True

    async def _look(self, conn: asyncpg.Connection, write: bool) -> None:
        """The query's columns, or the table's and whether the login may write it."""
        if self._query is not None:
            statement = await conn.prepare(self._query)
            attributes = statement.get_attributes()
            self._fields = [attribute.name for attribute in attributes]
            self._described = {
                a.name: described(a.name, a.type.name, a.type.kind) for a in attributes
            }
            return
        await self.load_columns(conn)
        self._known = bool(self._columns)
        if not self._columns and not write:
            raise BadInput(f"{self._where} not found{await self._close_tables(conn)}")
        if not self._columns:  # made by the first write, unless it is named otherwise
            other = await conn.fetchval(_OTHER_CASE, self._schema, self._table)
            if other is not None:
                raise in_another_case(self._where, str(other))
            await self._check_may_create(conn)
        if write and self._columns:
            await self._check_privileges(conn)
            await self._check_may_add_columns(conn)

    async def _check_may_add_columns(self, conn: asyncpg.Connection) -> None:
        """Fields the table lacks are added as columns by the first write, which only the
        table's owner may: refused before planning for another login, not at the batch."""
        fields = dict.fromkeys([*self._layout.keys, *self._layout.fields])
        missing = [name for name in fields if name not in self._columns]
        if not missing or await conn.fetchval(_OWNS, self._q):
            return
        names = ", ".join(missing)
        raise WriteFailed(
            f"{self._where} has no column {names}, and {self._connection.user!r} may not add "
            f"one (only the table's owner may): add {'it' if len(missing) == 1 else 'them'} "
            f"as its owner (ALTER TABLE {self._q} ADD COLUMN …), or map only its columns"
        )

    async def _check_may_create(self, conn: asyncpg.Connection) -> None:
        """A table the first write is to make: refused before planning where the login
        may not make it (no schema, or no CREATE right on it), not at the first batch."""
        row = await conn.fetchrow(_SCHEMA, self._schema)
        schema, creates = (row[0], row[1]) if row is not None else (None, None)
        user = self._connection.user
        if creates is None or schema is None:
            nor = f"nor its schema {schema}" if schema else "nor a schema to make it in"
            raise WriteFailed(f"{self._where} does not exist, {nor}: create them first")
        if not creates:
            raise WriteFailed(
                f"{self._where} does not exist, and {user!r} may not create it: GRANT CREATE "
                f"ON SCHEMA {quote(schema)} TO {quote(user)}, or create the table first"
            )

    async def _check_privileges(self, conn: asyncpg.Connection) -> None:
        """The rights a run needs on the table: USAGE on its schema (without it the server
        refuses every statement on the table, whatever the table's own grants), then
        SELECT, INSERT, UPDATE and DELETE on the table; each missing one named, with the
        GRANT that gives it."""
        user = self._connection.user
        schema, usable = await conn.fetchrow(_USAGE, self._schema) or (None, True)
        if usable is False:  # (None: no schema to ask about — the table says so later)
            raise WriteFailed(
                f"{self._where}: {user!r} may not use its schema {schema}; GRANT USAGE ON "
                f"SCHEMA {quote(str(schema))} TO {quote(user)}"
            )
        sql = "SELECT p FROM unnest($2::text[]) AS p WHERE NOT has_table_privilege($1::regclass, p)"
        rows = await conn.fetch(sql, self._q, ["SELECT", "INSERT", "UPDATE", "DELETE"])
        missing = [str(row[0]) for row in rows]
        if missing:
            raise WriteFailed(
                f"{self._where}: {self._connection.user!r} may not {', '.join(missing)} "
                f"there; GRANT {', '.join(missing)} ON {self._q} TO {quote(self._connection.user)}"
            )

    async def load_columns(self, conn: asyncpg.Connection) -> None:
        self._utf8 = conn.get_settings().server_encoding == "UTF8"
        oid = await conn.fetchval(_TABLE, self._schema, self._table)
        rows = await conn.fetch(_COLUMNS, oid) if oid is not None else []
        self._columns = {
            str(name): Column(
                str(name),
                str(type_name),
                str(declared),
                bool(array),
                (int(mod) - 4) & 0xFFFF if type_name == "numeric" and int(mod) >= 4 else None,
                bool(deterministic),
                None if base is None else str(base),
                bool(not_null),
            )
            for name, type_name, declared, array, mod, deterministic, base, not_null in rows
        }
        indexes = await conn.fetch(_UNIQUE, oid) if oid is not None else []
        self._unique = [frozenset(row[0]) for row in indexes]

    async def _close_tables(self, conn: asyncpg.Connection) -> str:
        """ "; did you mean …" with the tables whose names are close to the one asked for."""
        names = [str(row[0]) for row in await conn.fetch(_TABLES)]
        return close_names(self._name if self._schema else f"public.{self._table}", names)

    def transient(self, e: BaseException) -> bool:
        return transient(e)

    def denied(self, e: BaseException) -> bool:
        return str(getattr(e, "sqlstate", "") or "") == "42501"  # insufficient_privilege

    async def acquire(self, read: bool) -> Lent:
        return await acquire(self._connection, read)

    async def give_back(self, lent: Lent, discard: bool) -> None:
        await give_back(lent, discard)
