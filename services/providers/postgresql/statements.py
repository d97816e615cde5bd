"""The SQL a group of alike changes becomes: their rows are copied into a staging table
(`idsync_in`: the change's index, its key values, the values it sets), then one
set-based statement per step joins it to the target on the key columns.

Every name here is a column the catalogue listed (or the job's field, for a column the
first write adds), quoted; every value travels in the COPY, never in the SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sql.batches import Shape
from .values import Column, quote

STAGING = "idsync_in"


@dataclass(frozen=True)
class Statements:
    """The statements of one shape on one table (`target`, quoted and qualified)."""

    target: str
    columns: dict[str, Column]
    shape: Shape
    unique_key: bool = False
    """A unique index covers exactly the key columns: a row another writer inserts
    meanwhile is then skipped as there already (any other conflict stays an error)."""

    def _cast(self, name: str, slot: str) -> str:
        return f"CAST(s.{slot} AS {self.columns[name].declared})"

    def staging(self) -> str:
        _, where, names, _, _ = self.shape
        slots = [f"k{j} {self.columns[n].staging}" for j, n in enumerate(where)]
        slots += [f"v{j} {self.columns[n].staging}" for j, n in enumerate(names)]
        return f"CREATE TEMP TABLE {STAGING} (i int4, {', '.join(slots)}) ON COMMIT DROP"

    def _match(self) -> str:
        where = self.shape[1]
        return " AND ".join(f"t.{quote(n)} = {self._cast(n, f'k{j}')}" for j, n in enumerate(where))

    def _assignments(self, skip: frozenset[str] = frozenset()) -> list[str]:
        _, _, names, cleared, _ = self.shape
        sets = [
            f"{quote(n)} = {self._cast(n, f'v{j}')}" for j, n in enumerate(names) if n not in skip
        ]
        return sets + [f"{quote(n)} = NULL" for n in cleared if n not in names]

    def delete(self) -> str:
        return f"DELETE FROM {self.target} AS t USING {STAGING} AS s WHERE {self._match()}"

    def update(self, skip: frozenset[str] = frozenset()) -> str | None:
        """Sets the values on the rows there, returning the changes that found one; None
        when there is nothing to set (see `existing`)."""
        sets = self._assignments(skip)
        if not sets:
            return None
        return (
            f"UPDATE {self.target} AS t SET {', '.join(sets)} FROM {STAGING} AS s "
            f"WHERE {self._match()} RETURNING s.i"
        )

    def existing(self) -> str:
        return (
            f"SELECT s.i FROM {STAGING} AS s WHERE EXISTS "
            f"(SELECT 1 FROM {self.target} AS t WHERE {self._match()})"
        )

    def insert(self) -> str:
        """Create-if-absent: the rows whose key is not there yet."""
        _, where, names, _, _ = self.shape
        values = {n: self._cast(n, f"k{j}") for j, n in enumerate(where)}
        values.update({n: self._cast(n, f"v{j}") for j, n in enumerate(names)})
        return (
            f"INSERT INTO {self.target} ({', '.join(map(quote, values))}) "
            f"SELECT {', '.join(values.values())} FROM {STAGING} AS s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {self.target} AS t WHERE {self._match()})"
            + (
                f" ON CONFLICT ({', '.join(map(quote, where))}) DO NOTHING"
                if self.unique_key
                else ""
            )
        )
