"""Writing a sheet: a batch's changes are turned into texts and grouped by key
(rows.py), the folder's writers take turns, and the sheet is changed in place (`update`,
inplace.py) or written anew (`replace`, replace.py) into a temporary file renamed over
the workbook, so a failed or interrupted write leaves the old workbook as it was. The
batches of one sheet that wait in this process while another is written are written
together, in the order they came: one rewrite of the workbook for all of them."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from openpyxl.cell.cell import ERROR_CODES

from core.errors import WriteFailed
from schemas.jobs import RowMark
from schemas.plan import Change

from ..base import Layout, Outcome
from ..file_lock import locked
from .connection import ExcelFile
from .rows import Prepared, prepare_all
from .values import escape

Errors = dict[int, str]
"""A change's place in the batch → why it was not applied."""


def apply(
    file: ExcelFile, layout: Layout, mode: str, mark: RowMark, changes: list[Change]
) -> list[Outcome]:
    """Apply the changes (blocking: call from a thread); one outcome per change."""
    outcomes, prepared = prepare_all(layout, mark, changes)
    if not prepared:
        return outcomes
    mine = _Pending(prepared)
    group = _group(file, layout, mode, mark)
    with group.lock:
        group.waiting.append(mine)
    with group.turn:
        if not mine.done:  # no other batch wrote it with its own: write every one waiting
            with group.lock:
                taken, group.waiting = group.waiting, []
            _write_all(file, layout, mode, taken)
    if mine.failure is not None:
        raise mine.failure
    for at, error in mine.errors.items():
        outcomes[at] = Outcome(error=error)
    return outcomes


@dataclass(eq=False)
class _Pending:
    """A batch waiting for its write."""

    changes: list[Prepared]
    errors: Errors = field(default_factory=dict)
    failure: BaseException | None = None
    done: bool = False


class _Group:
    """The batches of this process waiting to write one sheet: whoever has the turn
    writes all of them at once. A sheet is rewritten whole for every write, and a runner
    applies several batches at a time: together they cost one rewrite, not several."""

    def __init__(self) -> None:
        self.turn = threading.Lock()
        self.lock = threading.Lock()
        self.waiting: list[_Pending] = []


_GROUPS: dict[Hashable, _Group] = {}
_GROUPS_LOCK = threading.Lock()


def _group(file: ExcelFile, layout: Layout, mode: str, mark: RowMark) -> _Group:
    """The group of the batches that write one sheet the same way (one job's)."""
    multi = tuple(sorted(layout.multi_valued.items()))
    where = (str(file.path.absolute()), file.sheet, file.header_row)
    key = (*where, mode, mark, layout.keys, layout.fields, multi)
    with _GROUPS_LOCK:
        return _GROUPS.setdefault(key, _Group())


def _write_all(file: ExcelFile, layout: Layout, mode: str, batches: list[_Pending]) -> None:
    """One write of the batches' changes, in order; each batch learns its errors."""
    from . import inplace, replace, staging

    merged: list[Prepared] = []
    owner: list[tuple[_Pending, int]] = []
    for number, batch in enumerate(batches):
        for change in batch.changes:
            owner.append((batch, change.at))
            merged.append(msgspec.structs.replace(change, at=len(merged), batch=number))
    write = replace.rewrite if mode == "replace" else inplace.update
    try:
        with locked(file.path.parent):
            staging.fold(file.path)  # batches staged before these, written first
            errors = write(file, layout, merged)
        for at, error in errors.items():
            batch, place = owner[at]
            batch.errors[place] = error
    except BaseException as e:
        for batch in batches:
            batch.failure = e
    finally:
        for batch in batches:
            batch.done = True


def looks_typed(text: str) -> bool:
    """Text that a spreadsheet would take for a formula or an error when typed: written
    as text with Excel's quote prefix, so it stays text when edited too."""
    return text[:1] in ("=", "+", "-", "@") or text in ERROR_CODES


def set_text(cell: Any, text: str) -> None:
    """A cell holding `text` as text (never a formula, whatever it starts with)."""
    cell.value = escape(text)
    cell.data_type = "s"
    if looks_typed(text):
        cell.quotePrefix = True


def save_atomically(path: Path, save: Callable[[Path], None]) -> None:
    """`save` writes a temporary file next to `path`, which is then renamed over it (with
    the old file's permissions): readers see the old workbook or the new one, whole."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        save(tmp)
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        if mode is not None:
            tmp.chmod(mode)
        os.replace(tmp, path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise WriteFailed(f"excel: cannot write {path}: {e.strerror or e}") from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
