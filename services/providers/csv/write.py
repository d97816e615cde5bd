"""Writing a CSV file: the whole file is loaded, the batch applied in memory, and the
file replaced atomically (a temporary file renamed over it), so a crash never leaves
half a file. The file keeps its byte-order mark, line endings and permissions."""

from __future__ import annotations

import codecs
import csv
import os
import uuid

from core.errors import WriteFailed
from schemas.plan import Change

from ..base import Layout, Outcome
from ..file_lock import locked
from .connection import CsvFile
from .read import check_width, header
from .values import cell

Row = dict[str, str]


class Table:
    """The whole file in memory while a batch is applied; rows indexed by key."""

    def __init__(self, names: list[str], rows: list[Row], layout: Layout) -> None:
        self.header = names or list(layout.fields)
        self.rows = rows
        self.changed = False
        self.bom = False
        self.newline = "\r\n"
        self.mode: int | None = None
        self._index: dict[tuple[str, ...], dict[tuple[str, ...], list[int]]] = {}

    @classmethod
    def load(cls, file: CsvFile, layout: Layout) -> Table:
        path = file.path
        if not path.exists():
            return cls([], [], layout)
        with path.open("rb") as raw:
            bom = raw.read(3) == codecs.BOM_UTF8
        with file.open_text() as f:
            first_line = f.readline()
            f.seek(0)
            rows = file.rows(f)
            names = header(file, rows, source=False) or []
            data: list[Row] = []
            for line, row in rows:
                check_width(file, line, row, names)
                data.append(dict(zip(names, row, strict=True)))
        table = cls(names, data, layout)
        table.bom = bom and file.read_encoding == "utf-8-sig"
        table.newline = (
            "\n" if first_line.endswith("\n") and not first_line.endswith("\r\n") else "\r\n"
        )
        table.mode = path.stat().st_mode & 0o7777
        return table

    def _find(self, keys: tuple[str, ...], key: tuple[str, ...]) -> list[int]:
        index = self._index.get(keys)
        if index is None:
            index = self._index[keys] = {}
            for i, row in enumerate(self.rows):
                index.setdefault(tuple(row.get(k, "") for k in keys), []).append(i)
        return [i for i in index.get(key, []) if self.rows[i]]

    def update(self, keys: tuple[str, ...], key: tuple[str, ...], values: Row) -> bool:
        """Set the values on every row with the key; False when there is none."""
        found = self._find(keys, key)
        for i in found:
            row = self.rows[i]
            changed = [name for name, text in values.items() if row.get(name, "") != text]
            if changed:
                self._add_columns(values)
                row.update(values)
                self.changed = True
                if any(name in indexed for indexed in self._index for name in changed):
                    self._index.clear()  # a key changed: index again when next needed
        return bool(found)

    def insert(self, row: Row) -> None:
        self._add_columns(row)
        self.rows.append(row)
        self.changed = True
        for keys, index in self._index.items():
            index.setdefault(tuple(row.get(k, "") for k in keys), []).append(len(self.rows) - 1)

    def delete(self, keys: tuple[str, ...], key: tuple[str, ...]) -> None:
        for i in self._find(keys, key):
            self.rows[i] = {}  # emptied rows are dropped when the file is written
            self.changed = True

    def _add_columns(self, row: Row) -> None:
        self.header.extend(name for name in row if name not in self.header and row[name])

    @property
    def live_rows(self) -> list[Row]:
        return [row for row in self.rows if row]


def apply(file: CsvFile, layout: Layout, changes: list[Change]) -> list[Outcome]:
    """Apply the changes (blocking: call from a thread); one outcome per change. Writers
    of one folder take turns: each loads the file as the one before left it."""
    with locked(file.path.parent):
        table = Table.load(file, layout)
        outcomes = [_apply_one(file, layout, table, change) for change in changes]
        if table.changed:
            _replace(file, table)
    return outcomes


def _apply_one(file: CsvFile, layout: Layout, table: Table, change: Change) -> Outcome:
    if change.action not in ("create", "update", "delete"):
        return Outcome(error=f"csv does not support {change.action}")
    keys = layout.keys or tuple(change.match)
    missing = [k for k in keys if not cell(layout, k, change.match.get(k, ""))]
    if missing:
        return Outcome(error=f"no value for key field {missing[0]!r}")
    key = tuple(cell(layout, k, change.match[k]) for k in keys)
    values = {name: cell(layout, name, v) for name, v in change.set.items()}
    values.update(dict.fromkeys(change.clear, ""))
    for name, text in values.items():
        try:
            text.encode(file.encoding)
        except UnicodeEncodeError as e:
            bad = e.object[e.start : e.end]
            return Outcome(error=f"{name}: {bad!r} cannot be written in {file.encoding}")
    if change.action == "delete":
        table.delete(keys, key)
    elif not table.update(keys, key, values):
        if change.action == "update":
            return Outcome(error=f"no row with {change.key!r} to update", missing=True)
        match = {k: cell(layout, k, change.match[k]) for k in keys}
        table.insert({**match, **values})
    return Outcome()


def _replace(file: CsvFile, table: Table) -> None:
    """Write a temporary file next to the target, then rename it over the target."""
    path = file.path
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    encoding = "utf-8-sig" if table.bom else file.encoding
    try:
        with tmp.open("x", encoding=encoding, newline="") as f:
            writer = csv.writer(
                f,
                delimiter=file.delimiter,
                quotechar=file.quote,
                quoting=csv.QUOTE_MINIMAL,
                lineterminator=table.newline,
            )
            writer.writerow(table.header)
            writer.writerows([row.get(h, "") for h in table.header] for row in table.live_rows)
            f.flush()
            os.fsync(f.fileno())
        if table.mode is not None:
            tmp.chmod(table.mode)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise WriteFailed(f"csv: cannot write {path}: {e.strerror or e}") from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
