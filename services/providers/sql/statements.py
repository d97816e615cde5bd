"""The SQL a group of alike changes becomes, as both SQL providers write it: the group's
rows are staged in a temporary table (the change's index `i`, its key values `k0…`, the
values it sets `v0…`), then one set-based statement per step joins it to the target on
the key columns. Each provider's statements.py says how a staged value becomes the
column's (`value`), what its staging table is called, and its own DELETE and UPDATE.

Every name here is a column the catalogue listed (or the job's field, for a column the
first write adds), quoted; every value is staged, never in the SQL text."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter, itemgetter

from .batches import Op, Shape

_row = attrgetter("row")


@dataclass(frozen=True)
class SetStatements:
    """The statements of one shape on one table (`target`, quoted and qualified)."""

    target: str
    shape: Shape
    stage: str
    """The staging table's name."""
    quote: Callable[[str], str]

    def value(self, name: str, slot: str) -> str:
        """The staged `slot` (k0, v1, …) as column `name`'s value."""
        return f"s.{slot}"

    def match(self) -> str:
        """The staged row's key equals the target row's."""
        where, quote = self.shape[1], self.quote
        return " AND ".join(f"t.{quote(n)} = {self.value(n, f'k{j}')}" for j, n in enumerate(where))

    def assignments(self, skip: frozenset[str] = frozenset(), prefix: str = "") -> list[str]:
        """`column = value` for each value set (but those in `skip`) and each cleared."""
        _, _, names, cleared, _ = self.shape
        quote = self.quote
        sets = [
            f"{prefix}{quote(n)} = {self.value(n, f'v{j}')}"
            for j, n in enumerate(names)
            if n not in skip
        ]
        return sets + [f"{prefix}{quote(n)} = {self.nothing(n)}" for n in cleared if n not in names]

    def nothing(self, name: str) -> str:
        """What column `name` is cleared to: NULL, or empty text where it refuses NULL."""
        return "NULL"

    def differs(self, name: str, value: str) -> str:
        """Whether the target row's column `name` differs from `value` (compared exactly:
        no collation taking "Ann" for "ann")."""
        raise NotImplementedError

    def unwritten(self, skip: frozenset[str] = frozenset(), source: str = "") -> str:
        """The rows an update (or a create finding its row) would change: some value set
        differs from the row's, or a column cleared holds one — so a batch delivered again
        writes no row twice (no trigger fires again, no change column moves). `source`:
        where the values come from (`EXCLUDED` in an upsert; the staged row otherwise)."""
        _, _, names, cleared, _ = self.shape
        tests = [
            self.differs(n, f"{source}.{self.quote(n)}" if source else self.value(n, f"v{j}"))
            for j, n in enumerate(names)
            if n not in skip
        ]
        tests += [
            f"t.{self.quote(n)} IS NOT NULL"
            if (nothing := self.nothing(n)) == "NULL"
            else self.differs(n, nothing)
            for n in cleared
            if n not in names
        ]
        return f"({' OR '.join(tests)})" if tests else "TRUE"

    def existing(self) -> str:
        """The changes whose row is there."""
        return (
            f"SELECT s.i FROM {self.stage} AS s WHERE EXISTS "
            f"(SELECT 1 FROM {self.target} AS t WHERE {self.match()})"
        )

    def inserted(self) -> Mapping[str, str]:
        """Each column a create sets, and its staged value."""
        _, where, names, _, _ = self.shape
        values = {n: self.value(n, f"k{j}") for j, n in enumerate(where)}
        values.update({n: self.value(n, f"v{j}") for j, n in enumerate(names)})
        return values

    def places(self) -> list[int] | None:
        """Where a group of creates may go straight into the table, with no staging:
        each inserted column's place in a staged row (`Op.row`), in `inserted()`'s order.
        None where they may not: a create that keeps a value there or clears one."""
        _, where, names, cleared, keep = self.shape
        if keep or cleared:
            return None
        places = {n: 1 + j for j, n in enumerate(where)}
        places.update({n: 1 + len(where) + j for j, n in enumerate(names)})
        return list(places.values())

    def straight(self) -> object | None:
        """What a group of creates goes straight into the table with, where it may (each
        provider's own); None: it is staged."""
        return None

    def column_rows(self, params: Mapping[str, list[object]]) -> list[tuple[object, ...]] | None:
        """Creates prepared a field at a time (`Batcher.column_params`: each field's
        parameters) as the rows `straight_rows` makes of their ops; None where they may
        not go straight into the table (`places`)."""
        if self.places() is None:
            return None
        return list(zip(*[params[n] for n in self.inserted()], strict=True))

    def straight_rows(self, ops: list[Op]) -> list[tuple[object, ...]] | None:
        """The group's creates as rows of `inserted()`'s columns, to go straight into the
        table; None where they may not (`places`)."""
        places = self.places()
        if places is None:
            return None
        if len(places) == 1:
            return [(op.row[places[0]],) for op in ops]
        return list(map(itemgetter(*places), map(_row, ops)))

    def insert(self) -> str:
        """Create-if-absent: the rows whose key is not there yet."""
        values = self.inserted()
        return (
            f"INSERT INTO {self.target} ({', '.join(map(self.quote, values))}) "
            f"SELECT {', '.join(values.values())} FROM {self.stage} AS s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {self.target} AS t WHERE {self.match()})"
        )
