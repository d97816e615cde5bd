"""One side of a job on a MySQL or MariaDB database: connecting (TLS, the password
reference, timeouts, a UTC and strict session), what information_schema says of the
table (its columns, their types, its unique indexes), and how the server's errors are
told. read.py and write.py build on it."""

from __future__ import annotations

import ssl
from functools import partial
from typing import Any

import asyncmy
from asyncmy.errors import MySQLError

from core.errors import BadInput, IdsyncError, Unreachable, WriteFailed
from schemas.connections import MysqlConnection
from schemas.jobs import Endpoint

from ..base import Layout
from ..sql.pools import Definition, Pools
from ..sql.table import Lent, SqlTable, close_names, in_another_case, password_of
from .values import Column, described, quote

_COLUMNS = """
SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, NUMERIC_SCALE,
  IS_NULLABLE
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s
ORDER BY ORDINAL_POSITION
"""
# Apart from the columns: matched to each column in the query, MariaDB took 70 ms.
_CHECKS = """
SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s
"""
_UNIQUE = """
SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND NON_UNIQUE = 0
ORDER BY INDEX_NAME, SEQ_IN_INDEX
"""
_DATABASE = "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s"
_OTHER_CASE = """
SELECT TABLE_NAME FROM information_schema.TABLES
WHERE TABLE_SCHEMA = %s AND LOWER(TABLE_NAME) = LOWER(%s)
  AND CAST(TABLE_NAME AS BINARY) <> CAST(%s AS BINARY)
ORDER BY 1 LIMIT 1
"""
_TABLES = """
SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES
WHERE TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
"""
# MySQL's errors that may pass: lost or refused connections, a server going away or
# busy, a lock wait timeout, a deadlock, too many connections, a read-only moment.
_TRANSIENT = {1040, 1053, 1205, 1213, 1290, 2002, 2003, 2006, 2013, 2055}
_REFUSED = {1044, 1045, 1049, 1698, 1251}  # access denied, unknown database, auth plugin
DENIED = {1142, 1143, 1227, 1044}  # a command or column the login may not use


def errno(e: BaseException) -> int:
    """The server's (or client's) error number, 0 when there is none."""
    args = getattr(e, "args", ())
    return int(args[0]) if args and isinstance(args[0], int) else 0


def _ssl(connection: MysqlConnection) -> ssl.SSLContext | None:
    if connection.tls == "disable":
        return None
    context = ssl.create_default_context(cafile=connection.ca_file)
    context.check_hostname = connection.tls == "verify-full"
    if connection.tls == "require":
        context.verify_mode = ssl.CERT_NONE
    return context


_ALL_ROWS = 18446744073709551615
"""sql_select_limit's highest value: no cap on the rows a SELECT returns."""
_LONGEST_CONCAT = 4294967295
"""group_concat_max_len's highest value on every server: a job's SELECT joining values
with GROUP_CONCAT gets them all (within max_allowed_packet), not the first 1024 bytes."""


def _options(connection: MysqlConnection, password: str | None) -> dict[str, Any]:
    """What asyncmy logs in with: a session that speaks UTC and refuses values its columns
    cannot hold instead of bending them (strict mode). Its sql_mode is set whole, none of
    the server's kept: a server's PAD_CHAR_TO_FULL_LENGTH would read CHAR(n) values padded
    to n, where values are compared as read without their trailing spaces (values.py).
    Its sql_select_limit and group_concat_max_len are lifted: a server's caps cut a
    SELECT short, or a GROUP_CONCAT's text, without an error, and the rows or values not
    returned would be taken for absent."""
    socket = connection.host if connection.host.startswith("/") else None
    return {
        "host": None if socket else connection.host,
        "unix_socket": socket,
        "port": connection.port,
        "user": connection.user,
        "password": password or "",
        "database": connection.database,
        "ssl": _ssl(connection),
        "connect_timeout": connection.timeouts.connect,
        "read_timeout": connection.timeouts.statement,
        "charset": "utf8mb4",
        "autocommit": True,
        "program_name": "idsync",
        "init_command": (
            "SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,"
            "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', "
            f"sql_select_limit = {_ALL_ROWS}, group_concat_max_len = {_LONGEST_CONCAT}"
        ),
    }


def _failed(connection: MysqlConnection, e: BaseException) -> IdsyncError | None:
    """Why logging in failed, as the product says it (None: not a login's failure)."""
    where = f"mysql connection {connection.id!r}"
    socket = connection.host if connection.host.startswith("/") else None
    target = f"{socket or f'{connection.host}:{connection.port}'}/{connection.database}"
    if isinstance(e, MySQLError) and errno(e) in _REFUSED:
        return BadInput(f"{where}: {target} refused {connection.user!r}: {e.args[-1]}")
    if isinstance(e, MySQLError | OSError | TimeoutError):
        return Unreachable(f"{where}: cannot connect to {target}: {e}")
    return None


async def connect(connection: MysqlConnection) -> Any:
    """A logged-in connection of its own, outside the pool (`reach`: a login tested anew)."""
    password = password_of(f"mysql connection {connection.id!r}", connection)
    try:
        return await asyncmy.connect(**_options(connection, password))
    except Exception as e:
        if (error := _failed(connection, e)) is not None:
            raise error from e
        raise


async def _make_pool(connection: Definition, password: str | None) -> Any:
    assert isinstance(connection, MysqlConnection)
    # No connection is made before one is asked for; one idle for an hour is made anew.
    return await asyncmy.create_pool(
        minsize=0, maxsize=connection.pool_size, **_options(connection, password)
    )


async def _close_pool(pool: Any) -> None:
    pool.close()
    await pool.wait_closed()


async def _terminate_pool(pool: Any) -> None:
    pool.terminate()  # the connections in use
    await pool.clear()  # the idle ones


POOLS: Pools[Any] = Pools(_make_pool, _close_pool, _terminate_pool)
"""The pools of this process, one per event loop and connection definition."""


async def acquire(connection: MysqlConnection, read: bool = False) -> Lent:
    """One of the pool's connections (its pool made on first use, a connection made when
    none is free and the pool holds fewer than `pool_size`); waits for one while all are
    in use. A `read` the pool may not lend one to (pools.py) gets one of its own."""
    password = password_of(f"mysql connection {connection.id!r}", connection)
    return await POOLS.lend(
        connection, password, read, partial(connect, connection), partial(_failed, connection)
    )


def give_back(lent: Lent, discard: bool) -> None:
    """A connection back to its pool, or closed: when `discard`, or a read's own."""
    if lent.pool is None:
        lent.conn.close()
        return
    if lent.read:
        POOLS.read_done(lent.pool)
    if discard:
        lent.conn.close()  # the pool makes another when one is next asked for
    lent.pool.release(lent.conn)


async def fetch(conn: Any, sql: str, args: object = None) -> list[tuple[Any, ...]]:
    async with conn.cursor() as cursor:
        await cursor.execute(sql, args)
        return list(await cursor.fetchall())


async def execute(conn: Any, sql: str, args: object = None) -> int:
    async with conn.cursor() as cursor:
        return int(await cursor.execute(sql, args))


def transient(e: BaseException) -> bool:
    """A failure that may pass: a lost connection, a timeout, a deadlock, a server busy."""
    if isinstance(e, OSError | TimeoutError | asyncmy.InterfaceError):
        return True
    return errno(e) in _TRANSIENT


class MysqlTable(SqlTable[MysqlConnection, Column]):
    """One job side: a table (read and written) or a SELECT (read only)."""

    tag = "mysql"

    def __init__(self, connection: MysqlConnection, endpoint: Endpoint, layout: Layout) -> None:
        super().__init__(connection, endpoint, layout)
        self._database = self._schema or connection.database
        self._q = f"{quote(self._database)}.{quote(self._table)}"
        self._staged: list[str] = []  # the staging tables the connection holds

    async def open(self, *, write: bool) -> None:
        await self.close()
        self._write = write
        self._refuse_query_writes(write)
        try:
            async with self.connection() as conn:
                await self._look(conn, write)
        except MySQLError as e:
            raise self.error(e, "read" if not write else "open") from e
        self._opened = True

    async def _look(self, conn: Any, write: bool) -> None:
        """The query's columns, or the table's and whether the login may write it."""
        if self._query is not None:
            async with conn.cursor() as cursor:  # describes it, reads no row
                # (on lines of its own: a comment ending the query ends there)
                await cursor.execute(f"SELECT * FROM (\n{self._query}\n) AS q LIMIT 0")
                found = cursor.description or ()
                self._fields = [str(d[0]) for d in found]
                self._described = {str(d[0]): described(d) for d in found}
            return
        await self.load_columns(conn)
        self._known = bool(self._columns)
        if not self._columns and not write:
            raise BadInput(f"{self._where} not found{await self._close_tables(conn)}")
        if not self._columns:  # made by the first write, unless it is named otherwise
            others = await fetch(conn, _OTHER_CASE, (self._database, self._table, self._table))
            if others:
                raise in_another_case(self._where, str(others[0][0]))
            await self._check_may_create(conn)
        if write and self._columns:
            from .grants import inactive_roles, missing_privileges

            missing = await missing_privileges(conn, self._database, self._table)
            if missing:
                raise WriteFailed(
                    f"{self._where}: {self._connection.user!r} may not "
                    f"{', '.join(missing)} there; GRANT {', '.join(missing)} ON {self._q} "
                    f"TO {quote(self._connection.user)}{await inactive_roles(conn)}"
                )
            await self._check_may_add_columns(conn)

    async def _check_may_add_columns(self, conn: Any) -> None:
        """Fields the table lacks are added as columns by the first write, which needs
        ALTER on the table: refused before planning without it, not at the batch."""
        from .grants import granted

        fields = dict.fromkeys([*self._layout.keys, *self._layout.fields])
        if not (missing := [name for name in fields if name not in self._columns]):
            return
        found = await granted(conn, self._database, self._table)
        if found is None or "ALTER" in found:
            return
        user, names = self._connection.user, ", ".join(missing)
        raise WriteFailed(
            f"{self._where} has no column {names}, and {user!r} may not add one: GRANT ALTER "
            f"ON {self._q} TO {quote(user)}, or add {'it' if len(missing) == 1 else 'them'}, "
            "or map only its columns"
        )

    async def _check_may_create(self, conn: Any) -> None:
        """A table the first write is to make: refused before planning where the login
        may not make it (no such database, or no CREATE right on it), not at the first
        batch. Rights through a role are not listed: the server decides then."""
        from .grants import granted

        database = self._database
        user = self._connection.user
        if not await fetch(conn, _DATABASE, (database,)):
            raise WriteFailed(
                f"{self._where} does not exist, nor its database {database} (none that "
                f"{user!r} may see)"
            )
        found = await granted(conn, database, self._table)
        if found is not None and "CREATE" not in found:
            raise WriteFailed(
                f"{self._where} does not exist, and {user!r} may not create it: GRANT CREATE, "
                f"ALTER ON {quote(database)}.* TO {quote(user)}, or create the table first"
            )

    async def load_columns(self, conn: Any) -> None:
        rows = await fetch(conn, _COLUMNS, (self._database, self._table))
        checks = {str(row[0]) for row in await fetch(conn, _CHECKS, (self._database, self._table))}
        self._columns = {}
        for name, data_type, column_type, charset, collation, scale, nullable in rows:
            json_check = f"json_valid(`{name}`)" in checks  # MariaDB's JSON
            declared = str(column_type)
            if charset is not None:
                declared += f" CHARACTER SET {charset} COLLATE {collation}"
            self._columns[str(name)] = Column(
                str(name),
                str(data_type).lower(),
                declared,
                int(scale) if scale is not None and str(data_type) == "decimal" else None,
                bool(json_check) or str(data_type).lower() == "json",
                str(nullable) == "NO",
                collation is not None and str(collation).lower().endswith("_ci"),
            )
        indexes: dict[str, set[str]] = {}
        for index, column in await fetch(conn, _UNIQUE, (self._database, self._table)):
            indexes.setdefault(str(index), set()).add(str(column))
        self._unique = [frozenset(columns) for columns in indexes.values()]

    async def _close_tables(self, conn: Any) -> str:
        """ "; did you mean …" with the tables whose names are close to the one asked for."""
        names = [str(row[0]) for row in await fetch(conn, _TABLES)]
        return close_names(f"{self._database}.{self._table}", names)

    def transient(self, e: BaseException) -> bool:
        return transient(e)

    def denied(self, e: BaseException) -> bool:
        return errno(e) in DENIED

    def told(self, e: BaseException) -> str:
        return str(e.args[-1]) if e.args else str(e)

    async def acquire(self, read: bool) -> Lent:
        return await acquire(self._connection, read)

    async def give_back(self, lent: Lent, discard: bool) -> None:
        give_back(lent, discard)

    async def close(self) -> None:
        self._staged = []
        await super().close()
