"""Record values as SQLite stores them: quoted names, column affinities, and the probe
that asks SQLite itself how a value would be stored."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from core.errors import BadInput
from schemas.values import Binary, Value, as_text, split_text

from ..cells import LIST_JOINER

Param = str | bytes | None
Key = tuple[tuple[str, ...], tuple[Param, ...]]  # (key fields, their values as read back)


def quote(name: str) -> str:
    """An SQL identifier for any name: double quotes, embedded quotes doubled."""
    if "\x00" in name:
        raise BadInput(f"sqlite: the name {name!r} contains a NUL character")
    return '"' + name.replace('"', '""') + '"'


def affinity(declared: str) -> str:
    """The column affinity SQLite derives from a declared type (rules of datatype3.html)."""
    t = declared.upper()
    if "INT" in t:
        return "INTEGER"
    if any(s in t for s in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in t or not t:
        return "BLOB"
    if any(s in t for s in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def text_of(raw: object) -> str:
    """A stored number or text as text: REAL in its shortest repr ("1.5", "3.0")."""
    return repr(raw) if isinstance(raw, float) else str(raw)


def key_part(raw: object) -> Param:
    """A stored key value as its change would hold it: text, or bytes for a BLOB."""
    return raw if raw is None or isinstance(raw, bytes) else text_of(raw)


def value_of(multi_valued: Mapping[str, str], name: str, raw: object) -> Value | None:
    """A stored value as a record value: REAL by repr, INTEGER by str, BLOB as Binary."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        return Binary(raw)
    return split_text(text_of(raw), multi_valued.get(name))


def param_of(multi_valued: Mapping[str, str], name: str, value: Value) -> Param:
    """A record value as the parameter that stores it."""
    if type(value) is str:  # the common case first: this runs for every value written
        return value or None
    if type(value) is list:  # as `as_text` joins it, without its checks
        return multi_valued.get(name, LIST_JOINER).join(value) or None
    if isinstance(value, Binary):
        return value.data or None
    return as_text(value, multi_valued.get(name, LIST_JOINER)) or None


class Probe:
    """An in-memory table with the destination's numeric affinities: SQLite itself says
    how a text value would be stored, so canonical() cannot disagree with a real write."""

    def __init__(self) -> None:
        self._made: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.slots: dict[str, str] = {}

    @property
    def _db(self) -> sqlite3.Connection:
        """Made on first use: a table of text columns never needs it."""
        if self._made is None:
            self._made = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        return self._made

    def reset(self, affinities: dict[str, str]) -> None:
        numeric = [n for n, a in affinities.items() if a in ("INTEGER", "REAL", "NUMERIC")]
        with self._lock:
            self.slots = {n: f"c{i}" for i, n in enumerate(numeric)}
            if self._made is not None:
                self._made.execute("DROP TABLE IF EXISTS probe")
            if numeric:
                cols = ", ".join(f"{self.slots[n]} {affinities[n]}" for n in numeric)
                self._db.execute(f"CREATE TABLE probe ({cols})")

    def numeric(self, names: Iterable[str]) -> bool:
        """Whether any of the fields has a numeric column (that converts what it stores)."""
        return bool(self.slots) and any(n in self.slots for n in names)

    def store(self, params: dict[str, Param]) -> dict[str, Any]:
        hits = [n for n, p in params.items() if n in self.slots and isinstance(p, str)]
        if not hits:
            return params
        cols = ", ".join(self.slots[n] for n in hits)
        with self._lock:
            self._db.execute(
                f"INSERT INTO probe ({cols}) VALUES ({', '.join('?' * len(hits))})",
                [params[n] for n in hits],
            )
            row = self._db.execute(f"SELECT {cols} FROM probe").fetchone()
            self._db.execute("DELETE FROM probe")
        return {**params, **dict(zip(hits, row, strict=True))}


class ScopeProbe:
    """A destination's `query` tested on a record before it is written: an in-memory table
    of the columns the job writes (with the table's affinities), the record's values in
    it. A query naming any other column (or table) cannot be judged so: `usable` False."""

    def __init__(self, query: str, columns: Iterable[str], affinities: Mapping[str, str]) -> None:
        self._names = list(dict.fromkeys(columns))
        self._slots = {name: f"c{i}" for i, name in enumerate(self._names)}
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        # The columns under their own names (the query names them so), typed as the table.
        cols = ", ".join(f"{quote(n)} {affinities.get(n, 'TEXT')}" for n in self._names)
        self._test = f"SELECT count(*) FROM scope WHERE ({query})"
        try:
            self._db.execute(f"CREATE TABLE scope ({cols})")
            self._db.execute(self._test).fetchone()
            self.usable = True
        except sqlite3.Error:  # another column, another table, or not a condition at all
            self.usable = False

    def holds(self, params: Mapping[str, Param]) -> bool:
        """Whether a row of these values (the others empty) is in the query's scope."""
        names = [name for name in self._names if params.get(name) is not None]
        cols = ", ".join(map(quote, names))
        with self._lock:
            if names:
                marks = ", ".join("?" * len(names))
                insert = f"INSERT INTO scope ({cols}) VALUES ({marks})"
                self._db.execute(insert, [params[n] for n in names])
            else:
                self._db.execute("INSERT INTO scope DEFAULT VALUES")
            try:
                found = self._db.execute(self._test).fetchone()
            except sqlite3.Error:
                found = (1,)  # not judged: the write says
            self._db.execute("DELETE FROM scope")
        return bool(found and found[0])
