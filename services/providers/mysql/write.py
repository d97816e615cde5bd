"""Writing a MySQL or MariaDB table. A batch is one transaction: alike changes (same
action, same fields) are staged together with multi-row INSERTs and applied by one
set-based statement each (statements.py) — creates as create-if-absent, updates as
set-to-a-value, deletes as delete-if-present — so a redelivered batch changes nothing
twice. A group the server rejects (a constraint, a value the column refuses) is rolled
back to its savepoint and replayed one change at a time, so the rejected change alone
fails.

Not INSERT IGNORE (it would turn a refused value into a warning and store another) nor
ON DUPLICATE KEY UPDATE (a clash on another unique column would update that other row)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from asyncmy.errors import DataError, IntegrityError, MySQLError

from core.errors import IdsyncError
from schemas.connections import MysqlConnection
from schemas.plan import Change
from schemas.work import Changes, Creates

from ..base import Outcome
from ..sql.batches import Batcher, Op, Shape
from ..sql.writing import SqlWriting
from .connection import MysqlTable, errno, execute, fetch, transient
from .statements import Statements
from .values import Column, canonical_value, param_of, quote, with_params

_ONE_CHANGE = frozenset(
    (1048, 1062, 1264, 1265, 1292, 1364, 1366, 1367, 1406, 1451, 1452, 1644, 3140, 3819, 4025)
)
"""Errors of one change's values: a NULL, a duplicate, a value out of range or of the
wrong type, no value for a column without a default, a foreign key, a trigger's SIGNAL
(1644: an error it raised for the row), invalid JSON, a CHECK constraint."""


class MysqlWriting(MysqlTable, SqlWriting[MysqlConnection, Column, Statements]):
    """The writing half of the provider."""

    rejections = (MySQLError,)

    async def write_batch(self, changes: Changes) -> list[Outcome]:
        if not len(changes):
            return []
        self._write = True
        try:
            # A failed batch's connection is closed, not given back (table.py).
            async with self.connection() as conn:
                return await self._apply(conn, changes)
        except IdsyncError:
            self._known = False
            raise
        except (MySQLError, OSError, TimeoutError) as e:
            self._known = False
            raise self.error(e, "write to") from e

    async def _apply(self, conn: Any, changes: Changes) -> list[Outcome]:
        await self._table_ready(conn, changes)  # DDL: before the transaction
        if isinstance(changes, Creates):
            if await self._in_transaction(conn, self._columns_straight(conn, changes)):
                return [Outcome()] * len(changes)
            changes = changes.changes
        outcomes = [Outcome()] * len(changes)
        groups = self._groups(changes, outcomes)
        try:
            # Staging tables too: DDL inside the transaction would leave it unable to
            # roll a group back cleanly.
            await self._stage(conn, groups)
            # READ COMMITTED: the create-if-absent's look at the table takes no gap
            # locks, so batches written at once by several runners do not deadlock
            # (the unique index still refuses a key another batch has just added).
            await execute(conn, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            await execute(conn, "START TRANSACTION")
            try:
                await self._apply_groups(conn, groups, outcomes)
                await execute(conn, "COMMIT")
            except BaseException:
                await execute(conn, "ROLLBACK")
                raise
        finally:
            await self._unstage(conn)
        return outcomes

    async def _in_transaction(self, conn: Any, work: Coroutine[Any, Any, bool]) -> bool:
        """`work` in a transaction of its own, committed where it says it is done (True),
        else rolled back."""
        await execute(conn, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED")  # see _apply
        await execute(conn, "START TRANSACTION")
        try:
            done = await work
        except BaseException:
            await execute(conn, "ROLLBACK")
            raise
        await execute(conn, "COMMIT" if done else "ROLLBACK")
        return done

    async def _stage(self, conn: Any, groups: list[tuple[Statements, list[Op]]]) -> None:
        """One staging table per shape of change in the batch."""
        made = {sql.stage: sql for sql, _ in groups}
        for stage, sql in made.items():
            await execute(conn, sql.staging())
            self._staged.append(stage)

    async def _unstage(self, conn: Any) -> None:
        """Drop the batch's staging tables (a connection that cannot is closed: the pool
        does not give it to another batch)."""
        staged, self._staged = self._staged, []
        try:
            for stage in staged:
                await execute(conn, f"DROP TEMPORARY TABLE IF EXISTS {stage}")
        except (MySQLError, OSError, TimeoutError):
            conn.close()

    async def make_columns(self, conn: Any, wanted: list[str], missing: list[str]) -> None:
        """Create the table (InnoDB, utf8mb4 compared byte for byte, varchar keys with a
        unique index, text columns) or add the columns of fields it lacks."""
        keys = self._layout.keys
        if not self._columns:
            columns = [
                f"{quote(name)} {'varchar(255)' if name in keys else 'text'}" for name in wanted
            ]
            if keys:
                columns.append(f"UNIQUE KEY `idsync_key` ({', '.join(map(quote, keys))})")
            await execute(
                conn,
                f"CREATE TABLE IF NOT EXISTS {self._q} ({', '.join(columns)}) ENGINE=InnoDB "
                "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            )
        else:
            for name in missing:
                try:
                    await execute(conn, f"ALTER TABLE {self._q} ADD COLUMN {quote(name)} text")
                except MySQLError as e:
                    if errno(e) != 1060:  # added meanwhile by another runner
                        raise

    def _groups(
        self, changes: list[Change], outcomes: list[Outcome]
    ) -> list[tuple[Statements, list[Op]]]:
        """The batch's groups of alike changes, in the order they are applied, each with
        the statements of its shape (alike shapes share a staging table)."""
        numbers: dict[Shape, int] = {}
        groups: list[tuple[Statements, list[Op]]] = []
        for ops in self.batcher().groups(changes, outcomes):
            shape = ops[0].shape
            groups.append((self.statements(shape, numbers.setdefault(shape, len(numbers))), ops))
        return groups

    def batcher(self) -> Batcher[Column]:
        return Batcher("mysql", self._layout, self._columns, param_of, canonical_value)

    def statements(self, shape: Shape, number: int = 0) -> Statements:
        unique = frozenset(shape[1]) in self._unique
        return Statements.of(self._q, self._columns, shape, number, unique)

    @asynccontextmanager
    async def _savepoint(self, conn: Any) -> AsyncIterator[None]:
        await execute(conn, "SAVEPOINT idsync_group")
        try:
            yield
        except MySQLError as e:
            if not transient(e) and self.one_change_only(e):
                await execute(conn, "ROLLBACK TO SAVEPOINT idsync_group")
            raise

    def savepoint(self, conn: Any) -> AbstractAsyncContextManager[None]:
        return self._savepoint(conn)

    def one_change_only(self, e: BaseException) -> bool:
        return isinstance(e, IntegrityError | DataError) or errno(e) in _ONE_CHANGE

    def awaits_row(self, e: BaseException) -> bool:
        return errno(e) in (1451, 1452)  # a foreign key: a row referenced, or referencing

    def rejected(self, sql: Statements, e: BaseException) -> str:
        return sql.told(str(e.args[-1]))

    async def _run(self, conn: Any, sql: Statements, ops: list[Op]) -> set[int]:
        """Apply one group; the indexes of updates that found no row."""
        if sql.shape[0] == "create" and await self._straight(conn, sql, ops):
            return set()
        await execute(conn, f"DELETE FROM {sql.stage}")  # an earlier group's rows
        async with conn.cursor() as cursor:
            await cursor.executemany(sql.fill(), [op.row for op in ops])
        action = sql.shape[0]
        missing: set[int] = set()
        if action == "delete":
            await execute(conn, sql.delete())
        elif action == "update":
            found = await fetch(conn, sql.existing())
            missing = {op.index for op in ops} - {int(row[0]) for row in found}
            if (statement := sql.update()) is not None:
                await execute(conn, statement)
        else:
            if (statement := sql.update(skip=sql.shape[4])) is not None:
                await execute(conn, statement)
            await execute(conn, sql.insert())
        return missing

    async def straight(self, conn: Any, sql: Statements, rows: list[tuple[object, ...]]) -> bool:
        """Creates inserted straight into the table, many rows a statement
        (`SqlWriting.straight`): a key there already makes the unique index refuse the
        statement, undone to a savepoint of its own."""
        statement = sql.straight()
        if statement is None:
            return False
        await execute(conn, "SAVEPOINT idsync_straight")
        try:
            async with conn.cursor() as cursor:
                await cursor.executemany(with_params(statement), rows)
        except MySQLError as e:
            if transient(e):
                raise
            await execute(conn, "ROLLBACK TO SAVEPOINT idsync_straight")
            return False
        return True
