"""Writing a table, as both SQL providers do it: a batch's alike changes applied group by
group, each group under a savepoint, so a group the server rejects (a constraint, a value
its column refuses) is undone alone and replayed one change at a time until the rejected
change alone fails. Each provider's write.py stages and applies a group (`_run`)."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, TypeVar

from schemas.plan import Change
from schemas.work import Changes, Creates

from ..base import Outcome
from .batches import Batcher, Op, Shape, wanted_columns
from .statements import SetStatements
from .table import Col, Conn, SqlTable

St = TypeVar("St", bound=SetStatements)
"""A provider's statements of one shape of change."""


class SqlWriting(SqlTable[Conn, Col], Generic[Conn, Col, St]):
    """The writing half of an SQL provider."""

    rejections: tuple[type[BaseException], ...] = ()
    """The driver's errors a server's refusal of a group comes as."""

    async def load_columns(self, conn: Any) -> None:
        raise NotImplementedError

    async def make_columns(self, conn: Any, wanted: list[str], missing: list[str]) -> None:
        """Create the table with the `wanted` columns, or add the `missing` ones."""
        raise NotImplementedError

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        return await self.write_batch(changes)

    async def apply_columns(self, creates: Creates) -> list[Outcome]:
        """`apply` of plain creates sent as columns: written straight into the table from
        the columns, no change made (`_columns_straight`), where they may."""
        return await self.write_batch(creates)

    async def write_batch(self, changes: Changes) -> list[Outcome]:
        """A batch applied in one transaction (`apply`, `apply_columns`)."""
        raise NotImplementedError

    def batcher(self) -> Batcher[Col]:
        """The batch's changes made into groups for the table's columns as known now."""
        raise NotImplementedError

    def statements(self, shape: Shape, number: int = 0) -> St:
        """The statements of one shape of change (`number`: its place among the batch's
        shapes, for a provider whose shapes have staging tables of their own)."""
        raise NotImplementedError

    async def straight(self, conn: Any, sql: St, rows: list[tuple[object, ...]]) -> bool:
        """Creates written straight into the table, as many rows a statement as the
        provider can, under a savepoint of their own: whether they went in. A key there
        already (a batch delivered again, a row another writer added) makes the unique
        index refuse them, undone: they are then applied as create-if-absent."""
        raise NotImplementedError

    async def _straight(self, conn: Any, sql: St, ops: list[Op]) -> bool:
        """A group of creates written straight into the table (`straight`) where it may."""
        rows = sql.straight_rows(ops) if sql.straight() is not None else None
        return rows is not None and len(rows) > 1 and await self.straight(conn, sql, rows)

    async def _columns_straight(self, conn: Any, creates: Creates) -> bool:
        """Plain creates sent as columns written straight into the table (`straight`),
        their rows made of the columns, no change made: whether they went in. Not where
        they are not a first run's group (`Batcher.column_params`) or their shape is
        staged: then their changes are applied as any batch's."""
        prepared = self.batcher().column_params(creates)
        if prepared is None:
            return False
        shape, params = prepared
        sql = self.statements(shape)
        rows = sql.column_rows(params) if sql.straight() is not None else None
        return rows is not None and len(rows) > 1 and await self.straight(conn, sql, rows)

    async def _table_ready(self, conn: Any, changes: Changes) -> None:
        """The table and every column the batch needs, made where missing."""
        wanted = wanted_columns(self._layout, changes)
        if self._known and all(name in self._columns for name in wanted):
            return
        await self.load_columns(conn)  # another runner may have made it meanwhile
        if missing := [name for name in wanted if name not in self._columns]:
            await self.make_columns(conn, wanted, missing)
            await self.load_columns(conn)
        self._known = True

    def savepoint(self, conn: Any) -> AbstractAsyncContextManager[None]:
        """A savepoint around one group: undone when the group fails."""
        raise NotImplementedError

    async def _run(self, conn: Any, sql: St, ops: list[Op]) -> set[int]:
        """Apply one group; the indexes of updates that found no row."""
        raise NotImplementedError

    def one_change_only(self, e: BaseException) -> bool:
        """Whether the error belongs to the rows of one change (a constraint, a bad value)."""
        raise NotImplementedError

    def awaits_row(self, e: BaseException) -> bool:
        """Whether the server refused a change for a row another change of the batch may
        add or take away in a later group (a foreign key: a manager created, a reference
        cleared): the change is tried again once the others are applied."""
        return False

    def rejected(self, sql: St, e: BaseException) -> str:
        """The server's words for a change it refused."""
        return str(e)

    def named(self, change: Change, told: str) -> str:
        """The server's words for a change it refused, with the field they are about
        where the words do not name it."""
        return told

    async def _apply_groups(
        self, conn: Any, groups: Iterable[tuple[St, list[Op]]], outcomes: list[Outcome]
    ) -> None:
        """Each group applied (`_group`), then the changes refused for a row another one
        adds or takes away (`awaits_row`) again, one by one in the batch's order, for as
        long as some of them go in: the groups are of alike changes, not in the plan's
        order, and a create whose manager is created by a later group waits for it."""
        later: list[tuple[St, Op]] = []
        for sql, ops in groups:
            await self._group(conn, sql, ops, outcomes, later)
        while later:
            waiting, later = sorted(later, key=lambda each: each[1].index), []
            for sql, op in waiting:
                outcomes[op.index] = Outcome()
                await self._group(conn, sql, [op], outcomes, later)
            if len(later) == len(waiting):
                return  # none went in: their errors stand

    async def _group(
        self,
        conn: Any,
        sql: St,
        ops: list[Op],
        outcomes: list[Outcome],
        later: list[tuple[St, Op]] | None = None,
    ) -> None:
        try:
            async with self.savepoint(conn):  # a rejected group is undone alone
                missing = await self._run(conn, sql, ops)
        except self.rejections as e:
            if self.transient(e) or not self.one_change_only(e):
                raise
            if len(ops) > 1:
                for op in ops:  # again one by one, in order, to find the culprits
                    await self._group(conn, sql, [op], outcomes, later)
                return
            if later is not None and self.awaits_row(e):
                later.append((sql, ops[0]))
            change = ops[0].change
            outcomes[ops[0].index] = Outcome(
                error=f"{change.action} {change.key!r} rejected by {self.tag}: "
                f"{self.named(change, self.rejected(sql, e))}"
            )
            return
        for op in ops:
            if op.index in missing:
                outcomes[op.index] = Outcome(
                    error=f"no row with {op.change.key!r} to update", missing=True
                )
