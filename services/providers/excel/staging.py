"""A run's batches staged beside the workbook, and written into it together at the run's end.

Every write rewrites a workbook whole, so writing a run's batches one by one costs the
sheet's length once per batch: a first run of 100,000 rows was some fifty rewrites of a
growing sheet. The runner stages each batch instead (`stage`) and, when the run ends,
finishes it (`finish`): every staged batch is written in one rewrite, in the order they
were staged, as writing them one by one would have left the sheet (write.py).

A staged batch is a file in a hidden folder beside the workbook (`.people.xlsx.staged`),
written as a temporary file, flushed to disk, renamed and its folder flushed: when `stage`
returns the batch survives a crash, and only then is it acknowledged. The file's name is
its place in the order and a digest of its changes, so a batch delivered again finds
itself staged and stages nothing twice. Its outcomes are decided when it is staged,
against the workbook and the batches staged before it, as writing it would have decided
them (a row to update that is not there), and kept with it, together with the changes
that were applied; the sheet's row limit is checked then too.

Only `finish` changes the workbook, atomically (a temporary file renamed over it): a run
that fails or stops leaves the old workbook whole, and the batches it staged are written
by whatever touches the workbook next — the end of the run, reading the workbook (a plan,
a preview, a source) or writing it directly (`fold`). Writers take turns on the folder's
lock (file_lock.py), for staging as for writing.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import structlog

from core.errors import WriteFailed
from schemas.jobs import RowMark
from schemas.plan import Change

from ..base import Layout, Outcome
from ..file_lock import locked
from . import inplace, replace
from .connection import ExcelFile, open_book
from .inplace import MAX_ROWS
from .read import SheetReader
from .rows import Key, Prepared, by_key, prepare_all, settle
from .values import text_of

log = structlog.get_logger("idsync.excel")


class Target(msgspec.Struct, frozen=True):
    """How a staged batch writes: the sheet, its header row, the mode, the side's layout."""

    sheet: str | None
    header_row: int
    mode: str
    layout: Layout


class Staged(msgspec.Struct):
    """A staged batch: the changes to write (those that failed left out) and the errors of
    those that failed, by place in the batch."""

    target: Target
    changes: list[Prepared]
    errors: dict[int, str] = msgspec.field(default_factory=dict)


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Staged).decode


def stage(
    file: ExcelFile, layout: Layout, mode: str, mark: RowMark, changes: list[Change]
) -> list[Outcome]:
    """Stage a batch (blocking: call from a thread); one outcome per change."""
    outcomes, prepared = prepare_all(layout, mark, changes)
    if not prepared:
        return outcomes
    target = Target(file.sheet, file.header_row, mode, layout)
    digest = hashlib.sha256(_encode((target, prepared))).hexdigest()[:32]
    with locked(file.path.parent):
        journal = Journal(file.path)
        names = journal.names()
        mine = next((n for n in names if n.endswith(f"-{digest}.json")), None)
        if mine is not None:  # delivered again: staged already, with its outcomes
            errors = journal.load(mine).errors
        else:
            known = _known(journal, names)
            keys = layout.keys or tuple(prepared[0].match)
            rows = known.rows(journal, file, target, keys)
            errors, applied, after = rows.settled(prepared)
            if after.total > max(rows.total, MAX_ROWS):
                where = file.where(file.sheet) if file.sheet else file.where()
                raise WriteFailed(f"{where}: the sheet has Excel's {MAX_ROWS:,} rows: full")
            name = journal.add(Staged(target, applied, errors), digest)
            known.sheets[_sheet_of(target)] = after
            known.seen.append(name)
    for at, error in errors.items():
        outcomes[at] = Outcome(error=error)
    return outcomes


def finish(path: Path) -> None:
    """Write the batches staged for the workbook at `path` into it (blocking)."""
    if not Journal(path).folder.exists():
        return
    with locked(path.parent):
        fold(path)


def pending(path: Path) -> bool:
    """Whether batches are staged for the workbook at `path`, not written yet."""
    return bool(Journal(path).names())


def fold(path: Path) -> None:
    """Write the staged batches into the workbook, then forget them. The caller holds the
    folder's lock. A crash after the workbook is renamed into place, before the batches
    are forgotten, writes them again next time: each batch applied twice leaves the sheet
    as once."""
    journal = Journal(path)
    names = journal.names()
    if not names:
        journal.tidy()
        return
    for target, changes in _writes(journal.load(name) for name in names):
        if not changes:  # its batches' changes all failed when staged
            continue
        file = ExcelFile.at(path, target.sheet, target.header_row)
        write = replace.rewrite if target.mode == "replace" else inplace.update
        errors = write(file, target.layout, changes)
        for at, error in list(errors.items())[:10]:  # the sheet was changed since staging
            log.warning(
                "staged change not applied", file=str(path), key=changes[at].key, error=error
            )
    journal.forget(names)
    _KNOWN.pop(path, None)


@dataclass
class _Segment:
    target: Target
    changes: list[Prepared] = field(default_factory=list)
    deleted: set[Key] = field(default_factory=set)


def _writes(staged: Iterable[Staged]) -> Iterator[tuple[Target, list[Prepared]]]:
    """The staged batches as writes, each of a target's batches in order: one write per
    target, unless writing them together would not leave the sheet as writing them one by
    one does — a key deleted and then created again (one by one, its row moves to the end),
    or another target on the same sheet in between."""
    segments: list[_Segment] = []
    for number, batch in enumerate(staged):
        same = next((s for s in reversed(segments) if s.target == batch.target), None)
        if same is not None:
            after = segments[segments.index(same) + 1 :]
            created = {c.key for c in batch.changes if c.action == "create"}
            if created & same.deleted or any(_overlap(s.target, batch.target) for s in after):
                same = None
        if same is None:
            same = _Segment(batch.target)
            segments.append(same)
        for change in batch.changes:
            at = len(same.changes)
            same.changes.append(msgspec.structs.replace(change, at=at, batch=number))
            if change.action == "delete":
                same.deleted.add(change.key)
    for segment in segments:
        yield segment.target, segment.changes


def _overlap(a: Target, b: Target) -> bool:
    """Whether two targets may write one sheet (no sheet named: the first visible one)."""
    return a.sheet is None or b.sheet is None or a.sheet.casefold() == b.sheet.casefold()


class Journal:
    """The folder of the batches staged for one workbook."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.folder = path.with_name(f".{path.name}.staged")

    def names(self) -> list[str]:
        """The staged batches, in order."""
        try:
            found = [n for n in os.listdir(self.folder) if n.endswith(".json")]
        except FileNotFoundError:
            return []
        return sorted(n for n in found if not n.startswith("."))

    def load(self, name: str) -> Staged:
        return _decode((self.folder / name).read_bytes())

    def add(self, staged: Staged, digest: str) -> str:
        """Stage a batch after the others, on disk before this returns; its name."""
        names = self.names()
        number = int(names[-1].partition("-")[0]) + 1 if names else 1
        name = f"{number:010d}-{digest}.json"
        try:
            self.folder.mkdir(exist_ok=True)
            tmp = self.folder / f".{uuid.uuid4().hex}.json"
            try:
                with tmp.open("wb") as f:
                    f.write(_encode(staged))
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.folder / name)
            finally:
                tmp.unlink(missing_ok=True)
            _sync(self.folder)
            _sync(self.folder.parent)
        except OSError as e:
            raise WriteFailed(f"excel: cannot stage a batch in {self.folder}: {e}") from e
        return name

    def forget(self, names: list[str]) -> None:
        for name in names:
            (self.folder / name).unlink(missing_ok=True)
        _sync(self.folder)
        self.tidy()

    def tidy(self) -> None:
        """The folder removed once nothing is staged in it (a write leaves none behind)."""
        try:
            for leftover in self.folder.glob(".*.json"):  # a staging cut short
                leftover.unlink(missing_ok=True)
            self.folder.rmdir()
        except FileNotFoundError:
            pass
        except OSError:  # staged again meanwhile by another machine's runner
            return
        _sync(self.folder.parent)


def _sync(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _Rows:
    """The rows a sheet has for each key, as the staged batches leave it; `total` its rows
    (update: its last row; replace: the header's row and every row below with a value)."""

    count: Counter[Key]
    total: int

    def settled(self, changes: list[Prepared]) -> tuple[dict[int, str], list[Prepared], _Rows]:
        """The changes' errors, those applied, and the rows after them."""
        after = _Rows(Counter(self.count), self.total)
        errors: dict[int, str] = {}
        for key, group in by_key(changes).items():
            had = after.count.get(key, 0)
            final, found = settle({} if had else None, group)
            errors.update((c.at, e) for c, e in zip(group, found, strict=True) if e is not None)
            now = 0 if final is None else max(had, 1)
            after.total += now - had
            if now:
                after.count[key] = now
            else:
                after.count.pop(key, None)
        applied = [c for c in changes if c.at not in errors]
        return errors, applied, after


@dataclass
class _Known:
    """What this process knows of a workbook's rows, as the batches staged for it leave
    them: for the workbook file it read (`base`) and the batches it has seen."""

    base: tuple[int, int, int] | None
    seen: list[str] = field(default_factory=list)
    sheets: dict[tuple[object, ...], _Rows] = field(default_factory=dict)

    def rows(self, journal: Journal, file: ExcelFile, target: Target, keys: Key) -> _Rows:
        sheet = _sheet_of(target)
        found = self.sheets.get(sheet)
        if found is None:
            found = _read_rows(file, target, keys)
            for name in self.seen:
                staged = journal.load(name)
                if _sheet_of(staged.target) == sheet:
                    found = found.settled(staged.changes)[2]
            self.sheets[sheet] = found
        return found


_KNOWN: dict[Path, _Known] = {}


def _known(journal: Journal, names: list[str]) -> _Known:
    """This process's knowledge of the workbook, brought up to the batches staged now."""
    base = _identity(journal.path)
    known = _KNOWN.get(journal.path)
    if known is None or known.base != base or known.seen != names[: len(known.seen)]:
        known = _KNOWN[journal.path] = _Known(base)  # the workbook was written since
    for name in names[len(known.seen) :]:  # staged by another process
        staged = journal.load(name)
        sheet = _sheet_of(staged.target)
        if sheet in known.sheets:
            known.sheets[sheet] = known.sheets[sheet].settled(staged.changes)[2]
        known.seen.append(name)
    return known


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size


def _sheet_of(target: Target) -> tuple[object, ...]:
    sheet = target.sheet.casefold() if target.sheet is not None else None
    return sheet, target.header_row, target.mode, target.layout.keys


def _read_rows(file: ExcelFile, target: Target, key_fields: Key) -> _Rows:
    """The rows of each key the workbook's sheet has now (read as writing it would)."""
    count: Counter[Key] = Counter()
    if not file.path.exists():
        return _Rows(count, file.header_row)
    book = open_book(file.path)
    try:
        sheet = book.pick(file.sheet)
        if sheet is None:
            return _Rows(count, file.header_row)
        reader = SheetReader(file, book, sheet, target.layout, source=False)
        try:
            header = reader.header
            if header is None:
                return _Rows(count, file.header_row)
            names, columns = header.names, header.columns
            keys = [header.column_of(k) if k in names else 0 for k in key_fields]
            last, rows = header.row, 0
            while (found := reader.next_row()) is not None:
                number, cells = found
                if not cells:
                    continue
                for column in cells:
                    if column not in columns:
                        raise reader.unnamed(number, column)
                last, rows = number, rows + 1
                key = tuple(text_of(cells.get(c)) if c else "" for c in keys)
                if any(key):
                    count[key] += 1
        finally:
            reader.close()
    finally:
        book.close()
    return _Rows(count, last if target.mode == "update" else header.row + rows)
