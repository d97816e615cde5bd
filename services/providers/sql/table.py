"""One job side on an SQL database, as both SQL providers hold it (PostgreSQL, MySQL): a
table (read and written) or a job's SELECT (read only), the catalogue's columns, and how
a failure is told. Each provider's connection.py adds its driver, its catalogue queries
and which of its server's errors may pass."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from core.errors import BadInput, IdsyncError, Transient, WriteFailed
from schemas.connections import MysqlConnection, PostgresqlConnection
from schemas.jobs import Endpoint
from services.common.secrets import resolve_secret

from ..base import Layout
from ..changes import FieldChanges, HighestRead
from .values import TypedColumn

Col = TypeVar("Col", bound=TypedColumn)


@dataclass(frozen=True)
class Lent:
    """A connection lent for one piece of work."""

    pool: Any
    """Its pool; None for a read's connection of its own."""
    conn: Any
    read: bool = False
    """Lent to a read (pools.py counts them)."""


Conn = TypeVar("Conn", PostgresqlConnection, MysqlConnection)


def split_table(name: str) -> tuple[str | None, str]:
    """ "schema.table" or "table" (in the login's current schema or the connection's
    database), as the catalogue spells them: names are matched exactly."""
    schema, dot, table = name.partition(".")
    return (schema, table) if dot else (None, name)


def password_of(where: str, connection: PostgresqlConnection | MysqlConnection) -> str | None:
    """The connection's password, its secret reference resolved (None without one);
    `where` names the connection in an error."""
    if connection.password is None:
        return None
    return resolve_secret(connection.password, f"{where}: password")


def in_another_case(where: str, other: str) -> BadInput:
    """A destination table not found while one whose name differs only in case is: most
    likely the one meant (PostgreSQL folds names given it unquoted to lower case), which
    a run would otherwise leave alone, making a new table beside it."""
    return BadInput(
        f"{where} not found, but {other!r} is: a table's name counts its case; name that "
        f"one (table = {other!r}), or a run would make a new table beside it"
    )


def close_names(wanted: str, names: Sequence[str]) -> str:
    """ "; did you mean …" with the names close to the one asked for (case aside)."""
    near = difflib.get_close_matches(wanted.lower(), [n.lower() for n in names], n=3)
    found = [n for n in names if n.lower() in near]
    return f"; did you mean {', '.join(found)}?" if found else ""


def _without_end(query: str) -> str:
    """A query without the spaces and semicolons it ends with."""
    while (trimmed := query.rstrip().rstrip(";")) != query:
        query = trimmed
    return query


class SqlTable(Generic[Conn, Col]):
    """One job side: a table (read and written) or a SELECT (read only)."""

    tag: ClassVar[str]
    """The provider's name, in its messages."""

    def __init__(self, connection: Conn, endpoint: Endpoint, layout: Layout) -> None:
        self._connection: Conn = connection
        self._layout = layout
        # A query's own `;` at its end (which `job apply` takes) ends no statement here:
        # MariaDB reads it inside a subquery, where it is a syntax error.
        self._query = (
            _without_end(endpoint.query) if endpoint.query and not endpoint.table else None
        )
        self._name = endpoint.table or ""
        self._schema, self._table = split_table(self._name)
        self._reads: list[Lent] = []  # reads under way, each on its own connection
        self._opened = False
        """`open` looked at the table (connections are taken from the pool for each
        piece of work, not held in between)."""
        self._columns: dict[str, Col] = {}  # empty while there is no table
        self._unique: list[frozenset[str]] = []  # the column sets of unique indexes
        self._fields: list[str] = []  # a query's columns
        self._described: dict[str, Col] = {}
        """A query's columns as `open` described them (their types, without a table's
        bounds): what `canonical` spells a value of such a column in."""
        self._changes: FieldChanges | None = None
        self._highest: HighestRead | None = None
        self._endless: str | None = None  # a stored watermark passed over (`read_changed`)
        self._write = False
        self._known = False
        """The columns held are the table's as `open` or the last batch found them: a
        batch looks at the catalogue again only for a column it lacks, or after a batch
        that failed."""

    @property
    def _where(self) -> str:
        return f"{self.tag} table {self._name!r}" if self._name else f"{self.tag} query"

    def _refuse_query_writes(self, write: bool) -> None:
        if write and self._query is not None:
            raise BadInput(f"{self._where}: a query is read only; name a `table` to write to")

    async def _look(self, conn: Any, write: bool) -> None:
        """The query's columns, or the table's and whether the login may write it (each
        provider's, on a connection logged in)."""
        raise NotImplementedError

    async def check_writes(self, conn: Any) -> None:
        """What `open(write=True)` checks before planning — the login's rights on the
        table (SELECT, INSERT, UPDATE, DELETE), or to create it; to add the columns it
        lacks —, on a connection logged in (`idsync connection test`): WriteFailed (a
        query: BadInput) saying what is missing and the GRANT that gives it."""
        self._write = True
        self._refuse_query_writes(True)
        await self._look(conn, True)

    def may_write(self) -> str:
        """What `check_writes` found the login may do."""
        if self._columns:
            return f"{self._where} may be read and written"
        return f"{self._where} does not exist yet and may be created by the first write"

    def source_fields(self) -> list[str] | None:
        """The table's (or query's) columns, after `open`; None for a table not there yet."""
        return list(self._columns) or self._fields or None

    def close_columns(self, name: str) -> str:
        near = difflib.get_close_matches(name, list(self._columns), n=3)
        return f" (close: {', '.join(near)})" if near else ""

    def transient(self, e: BaseException) -> bool:
        """A failure that may pass: a lost connection, a timeout, a deadlock, a server busy."""
        raise NotImplementedError

    def denied(self, e: BaseException) -> bool:
        """The server refused the login a right."""
        raise NotImplementedError

    def told(self, e: BaseException) -> str:
        """The server's words for a failure."""
        return str(e)

    def error(self, e: BaseException, doing: str) -> IdsyncError:
        text = f"{self._where}: cannot {doing}: {self.told(e)}"
        if self.transient(e):
            return Transient(f"{text}; retry")
        if self.denied(e):
            return WriteFailed(f"{text}; the user is {self._connection.user!r}")
        if not self._write:
            return BadInput(text)
        return WriteFailed(text)

    async def acquire(self, read: bool) -> Lent:
        """One of the pool's connections, the pool made on first use; for a `read`, a
        connection of its own when the pool may not lend one (pools.py)."""
        raise NotImplementedError

    async def give_back(self, lent: Lent, discard: bool) -> None:
        """A connection back to its pool; closed instead when `discard`, or when it is a
        read's own."""
        raise NotImplementedError

    @asynccontextmanager
    async def connection(self, *, read: bool = False) -> AsyncIterator[Any]:
        """One of the pool's connections for one piece of work (a look at the catalogue,
        a batch, a `read`): given back after it; closed when the work failed — a
        connection the server dropped, a transaction or a streamed read left open is
        never given to the next batch."""
        lent = await self.acquire(read)
        if read:
            self._reads.append(lent)
        try:
            yield lent.conn
        except BaseException:
            if self._let_go(lent):
                with contextlib.suppress(Exception):  # the work's failure is the one told
                    await self.give_back(lent, True)
            raise
        if self._let_go(lent):
            await self.give_back(lent, False)

    def _let_go(self, lent: Lent) -> bool:
        """Whether `lent` is still this side's to give back (`close` closes a read left
        under way)."""
        if not lent.read:
            return True
        for at, held in enumerate(self._reads):
            if held is lent:
                del self._reads[at]
                return True
        return False

    async def close(self) -> None:
        """The side closed; a read left under way — its reader stopped before the end,
        as a plan failing on a record does, and not closed — is closed with it, its
        connection discarded: its transaction would hold the table's locks, and the pool
        its connection, until the garbage collector came by."""
        self._opened = False
        reads, self._reads = self._reads, []
        for lent in reads:
            with contextlib.suppress(Exception):
                await self.give_back(lent, True)
