"""The statements a batch of changes becomes: each change ready to bind (`Op`), and the
SQL of each shape of change, built once per shape."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.plan import Change

from .values import Key, Param, quote

Shape = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]
"""(verb, key fields, fields written, fields a create sets only on a new row)."""


@dataclass(slots=True)
class Op:
    """One change, ready to bind: key fields and parameters, the fields it writes."""

    index: int
    change: Change
    where: tuple[str, ...]
    key_params: tuple[Param, ...]
    key: Key
    names: tuple[str, ...]
    """The fields written: `set`, then `clear` (bound as NULL)."""
    values: tuple[Param, ...]

    def existing(self) -> Op:
        """What a create writes to a row that exists: all but its create-only fields."""
        keep = set(self.change.create_only)
        if not keep:
            return self
        pairs = [(n, v) for n, v in zip(self.names, self.values, strict=True) if n not in keep]
        return Op(
            self.index,
            self.change,
            self.where,
            self.key_params,
            self.key,
            tuple(n for n, _ in pairs),
            tuple(v for _, v in pairs),
        )

    def rekeys(self) -> bool:
        """Whether an update changes a key field: then it must run alone, in order."""
        new = dict(zip(self.names, self.values, strict=True))
        return any(new.get(f, p) != p for f, p in zip(self.where, self.key_params, strict=True))


class Statements:
    """The SQL of one table's changes, each shape built once."""

    def __init__(self, table: str, scope: str | None = None) -> None:
        self._q = table
        """The table's quoted name."""
        self._scope = f" AND ({scope})" if scope else ""
        """The endpoint's `query`: an update or a delete touches the rows of the job's
        scope alone — a row of the same key outside it is not the job's."""
        self._built: dict[Shape, tuple[str, tuple[int, ...]]] = {}
        self._many: dict[tuple[Shape, int], str] = {}

    def sql(self, op: Op, verb: str) -> tuple[str, tuple[Param, ...]]:
        """The statement (built once per shape) and its parameters."""
        keep = tuple(op.change.create_only) if verb == "upsert" else ()
        sql, key_first = self.shaped((verb, op.where, op.names, keep))
        if verb in ("insert", "upsert"):
            if not key_first:  # a create's values hold its key fields, usually
                return sql, op.values
            return sql, (*[op.key_params[i] for i in key_first], *op.values)
        if verb == "update":  # the values twice: to set, and to skip rows that have them
            return sql, (*op.values, *op.key_params, *op.values)
        return sql, op.key_params

    def shaped(self, shape: Shape) -> tuple[str, tuple[int, ...]]:
        """The statement of one shape, built once; for an insert, the key fields it adds
        before the values."""
        built = self._built.get(shape)
        if built is None:
            built = self._built[shape] = self._build(*shape)
        return built

    def rows(self, shape: Shape, count: int) -> str:
        """The insert or upsert of one shape for `count` rows in one statement (its
        parameters each row's in turn): SQLite steps through it once, where `executemany`
        steps once a row, taking Python's lock back for each."""
        built = self._many.get((shape, count))
        if built is None:
            built = self._many[shape, count] = self._build(*shape, rows=count)[0]
        return built

    def _build(
        self,
        verb: str,
        where: tuple[str, ...],
        names: tuple[str, ...],
        keep: tuple[str, ...] = (),
        rows: int = 1,
    ) -> tuple[str, tuple[int, ...]]:
        """SQL for one shape of change; for an insert, also the key fields it must add."""
        # Bytes for bytes (BINARY, as the run compares keys with case): a key column of
        # another collation (NOCASE) would take the row "E2" for the change of "e2".
        condition = " AND ".join(f"{quote(f)} = ? COLLATE BINARY" for f in where)
        if verb in ("insert", "upsert"):
            key_first = tuple(i for i, f in enumerate(where) if f not in names)
            columns = [where[i] for i in key_first] + list(names)
            marks = ", ".join([f"({', '.join('?' * len(columns))})"] * rows)
            sql = f"INSERT INTO {self._q} ({', '.join(map(quote, columns))}) VALUES {marks}"
            if verb == "upsert":
                target = ", ".join(map(quote, where))
                others = [n for n in names if n not in where and n not in keep]
                if not others:
                    return f"{sql} ON CONFLICT ({target}) DO NOTHING", key_first
                sets = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in others)
                differs = " OR ".join(f"{quote(n)} IS NOT excluded.{quote(n)}" for n in others)
                sql += f" ON CONFLICT ({target}) DO UPDATE SET {sets} WHERE {differs}"
            return sql, key_first
        if verb == "update":
            # Fenced: a row that already holds the values is not written again, so a batch
            # applied twice (a runner died before acknowledging it) writes nothing twice.
            sets = ", ".join(f"{quote(n)} = ?" for n in names)
            differs = " OR ".join(f"{quote(n)} IS NOT ?" for n in names)
            update = f"UPDATE {self._q} SET {sets} WHERE {condition} AND ({differs})"
            return update + self._scope, ()
        return f"DELETE FROM {self._q} WHERE {condition}{self._scope}", ()
