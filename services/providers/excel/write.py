"""Writing a sheet: a batch's changes are turned into texts and grouped by key
(rows.py), the folder's writers take turns, and the sheet is changed in place (`update`,
inplace.py) or written anew (`replace`, replace.py) into a temporary file renamed over
the workbook, so a failed or interrupted write leaves the old workbook as it was."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openpyxl.cell.cell import ERROR_CODES

from core.errors import WriteFailed
from schemas.jobs import RowMark
from schemas.plan import Change

from ..base import Layout, Outcome
from .connection import ExcelFile, locked
from .rows import Prepared, prepare
from .values import escape

Errors = dict[int, str]
"""A change's place in the batch → why it was not applied."""


def apply(
    file: ExcelFile, layout: Layout, mode: str, mark: RowMark, changes: list[Change]
) -> list[Outcome]:
    """Apply the changes (blocking: call from a thread); one outcome per change."""
    from . import inplace, replace

    outcomes = [Outcome()] * len(changes)
    prepared: list[Prepared] = []
    for at, change in enumerate(changes):
        found = prepare(layout, mark, at, change)
        if isinstance(found, str):
            outcomes[at] = Outcome(error=found)
        else:
            prepared.append(found)
    if not prepared:
        return outcomes
    write = replace.rewrite if mode == "replace" else inplace.update
    with locked(file.path.parent):
        errors = write(file, layout, prepared)
    for at, error in errors.items():
        outcomes[at] = Outcome(error=error)
    return outcomes


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
