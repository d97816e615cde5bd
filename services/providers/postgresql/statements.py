"""The SQL a group of alike changes becomes on PostgreSQL (sql/statements.py): its rows are
copied into a staging table (`idsync_in`, text columns) and each staged value is cast to
its column's declared type in the set-based statements (a text type of a bounded length
without its bound: the column refuses a longer value, which a cast would cut).

Every name here is a column the catalogue listed (or the job's field, for a column the
first write adds), quoted; every value travels in the COPY, never in the SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..sql.batches import Shape
from ..sql.statements import SetStatements
from .values import Column, quote

STAGING = "idsync_in"


@dataclass(frozen=True)
class Statements(SetStatements):
    """The statements of one shape on one table (`target`, quoted and qualified)."""

    columns: dict[str, Column] = field(default_factory=dict)
    unique_key: bool = False
    """A unique index covers exactly the key columns: a row another writer inserts
    meanwhile is then skipped as there already (any other conflict stays an error)."""

    @classmethod
    def of(
        cls, target: str, columns: dict[str, Column], shape: Shape, unique_key: bool = False
    ) -> Statements:
        return cls(target, shape, STAGING, quote, columns, unique_key)

    def value(self, name: str, slot: str) -> str:
        return f"CAST(s.{slot} AS {self.columns[name].cast})"

    def nothing(self, name: str) -> str:
        column = self.columns.get(name)
        return "''" if column is not None and column.empty_text else "NULL"

    def match(self) -> str:
        """The staged row's key equals the target row's — as the same text, in a key
        column whose equal values need not be (citext, a nondeterministic collation): a
        create of "e2" must not find the row "E2" (the column's own test comes first,
        for its index)."""
        found = super().match()
        for j, name in enumerate(self.shape[1]):
            if not self.columns[name].exact:
                same = 'COLLATE "C"'
                found += (
                    f" AND t.{quote(name)}::text {same} = {self.value(name, f'k{j}')}::text {same}"
                )
        return found

    def staging(self) -> str:
        _, where, names, _, _ = self.shape
        slots = [f"k{j} {self.columns[n].staging}" for j, n in enumerate(where)]
        slots += [f"v{j} {self.columns[n].staging}" for j, n in enumerate(names)]
        return f"CREATE TEMP TABLE {STAGING} (i int4, {', '.join(slots)}) ON COMMIT DROP"

    def delete(self) -> str:
        return f"DELETE FROM {self.target} AS t USING {STAGING} AS s WHERE {self.match()}"

    def differs(self, name: str, value: str) -> str:
        """As text in the C collation: equal texts are the same value (a value of a type
        without equality, json, compared so too); a column of a collation that ignores
        case does not take "Ann" for "ann"."""
        return f'(t.{quote(name)})::text COLLATE "C" IS DISTINCT FROM ({value})::text COLLATE "C"'

    def update(self, skip: frozenset[str] = frozenset()) -> str | None:
        """Sets the values on the rows there that do not hold them yet (`unwritten`),
        selecting the changes that found a row (as it was before); None when there is
        nothing to set (see `existing`)."""
        sets = self.assignments(skip)
        if not sets:
            return None
        written = (
            f"UPDATE {self.target} AS t SET {', '.join(sets)} FROM {STAGING} AS s "
            f"WHERE {self.match()} AND {self.unwritten(skip)}"
        )
        return f"WITH written AS ({written}) {self.existing()}"

    def insert(self) -> str:
        """Create-if-absent: the rows whose key is not there yet."""
        if not self.unique_key:
            return super().insert()
        return f"{super().insert()} ON CONFLICT ({', '.join(map(quote, self.shape[1]))}) DO NOTHING"

    def straight(self) -> list[int] | None:
        """Where a group of creates may be copied straight into the table (`places`):
        with a unique index over the key to refuse a row there already, into columns of
        plain text."""
        if not self.unique_key or any(not self.columns[n].plain_text for n in self.inserted()):
            return None
        return self.places()

    def upsert(self) -> str:
        """Creates in one statement where a unique index covers the key: each staged row
        goes in, and one whose key is there already gives that row its values (but those
        set only on a new row) — each row found by the index, the table never scanned."""
        _, where, names, cleared, keep = self.shape
        values = self.inserted()
        sets = [f"{quote(n)} = EXCLUDED.{quote(n)}" for n in names if n not in keep]
        sets += [f"{quote(n)} = {self.nothing(n)}" for n in cleared if n not in names]
        unwritten = self.unwritten(keep, source="EXCLUDED")
        action = f"UPDATE SET {', '.join(sets)} WHERE {unwritten}" if sets else "NOTHING"
        return (
            f"INSERT INTO {self.target} AS t ({', '.join(map(quote, values))}) "
            f"SELECT {', '.join(values.values())} FROM {STAGING} AS s "
            f"ON CONFLICT ({', '.join(map(quote, where))}) DO {action}"
        )
