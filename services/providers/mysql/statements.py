"""The SQL a group of alike changes becomes on MySQL (sql/statements.py): its rows go into a
temporary staging table (`idsync_in<n>`, one per shape of change in a batch, each column
made as the target's, so a value the column refuses is refused there) by multi-row
INSERTs, then one set-based statement per step joins it to the target on the key
columns.

Every name here is a column information_schema listed (or the job's field, for a column
the first write adds), quoted with backticks; every value travels as a parameter, never
in the SQL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..sql.batches import Shape
from ..sql.statements import SetStatements
from .values import Column, quote

STAGING = "idsync_in"
"""The staging tables' names begin so (a batch's n-th shape is `idsync_in<n>`)."""


@dataclass(frozen=True)
class Statements(SetStatements):
    """The statements of one shape on one table (`target`, quoted and qualified)."""

    columns: dict[str, Column] = field(default_factory=dict)
    unique_key: bool = False
    """A unique index covers exactly the key columns."""

    @classmethod
    def of(
        cls, target: str, columns: dict[str, Column], shape: Shape, number: int, unique: bool
    ) -> Statements:
        """`number`: which staging table of the batch this shape's is."""
        return cls(target, shape, f"{STAGING}{number}", quote, columns, unique)

    def nothing(self, name: str) -> str:
        column = self.columns.get(name)
        return "''" if column is not None and column.empty_text else "NULL"

    def match(self) -> str:
        """The staged row's key equals the target row's — as the same bytes, for a text
        key: a column's collation may take "E2" for "e2" (most defaults ignore case,
        some accents), where a create of "e2" must not find the row "E2" (the column's
        own test comes first, for its index)."""
        found = super().match()
        for j, name in enumerate(self.shape[1]):
            if self.columns[name].reads_str:
                found += f" AND CAST(t.{quote(name)} AS BINARY) = CAST(s.k{j} AS BINARY)"
        return found

    def straight(self) -> str | None:
        """Creates as multi-row INSERTs straight into the table, where the unique index
        over the key refuses a row there already (`places` their values); None where
        they must be staged."""
        if not self.unique_key or self.places() is None:
            return None
        names = list(self.inserted())
        return (
            f"INSERT INTO {self.target} ({', '.join(map(quote, names))}) "
            f"VALUES ({', '.join(['%s'] * len(names))})"
        )

    def staging(self) -> str:
        _, where, names, _, _ = self.shape
        slots = [f"k{j} {self.columns[n].declared}" for j, n in enumerate(where)]
        slots += [f"v{j} {self.columns[n].declared}" for j, n in enumerate(names)]
        # InnoDB: a group rolled back to its savepoint takes its staged rows with it.
        return f"CREATE TEMPORARY TABLE {self.stage} (i int, {', '.join(slots)}) ENGINE=InnoDB"

    def told(self, message: str) -> str:
        """The server's message with the staging table's columns called by the target's
        names ("for column `amount`", not "`db`.`idsync_in`.`v1`")."""
        _, where, names, _, _ = self.shape

        def name(found: re.Match[str]) -> str:
            return quote((where if found[1] == "k" else names)[int(found[2])])

        message = re.sub(rf"(?:`[^`]*`\.)?`{self.stage}`\.`([kv])(\d+)`", name, message)
        return re.sub(r"(?<=column )'([kv])(\d+)'", name, message)

    def fill(self) -> str:
        _, where, names, _, _ = self.shape
        return (
            f"INSERT INTO {self.stage} VALUES ({', '.join(['%s'] * (1 + len(where) + len(names)))})"
        )

    def delete(self) -> str:
        return f"DELETE t FROM {self.target} AS t JOIN {self.stage} AS s ON {self.match()}"

    def update(self, skip: frozenset[str] = frozenset()) -> str | None:
        """Sets the values on the rows there; None when there is nothing to set."""
        sets = self.assignments(skip, prefix="t.")
        if not sets:
            return None
        return (
            f"UPDATE {self.target} AS t JOIN {self.stage} AS s ON {self.match()} "
            f"SET {', '.join(sets)} WHERE {self.unwritten(skip)}"
        )

    def differs(self, name: str, value: str) -> str:
        """As bytes: a collation that ignores case (or pads spaces) does not take "Ann"
        for "ann" (the staged column is declared as the target's). A float as a number:
        a FLOAT's text has six digits, and 1234567 would be 1234568."""
        column = self.columns.get(name)
        if column is not None and column.kind in ("float", "float4"):
            return f"NOT (t.{quote(name)} <=> {value})"
        return f"NOT (CAST(t.{quote(name)} AS BINARY) <=> CAST({value} AS BINARY))"
