"""A run's batches staged beside the workbook and written together at the run's end: the
sheet and the outcomes exactly as writing each batch gives them, for every action and
both modes; the workbook untouched until the end; a batch delivered again; a batch that
fails; a crash between batches or while the staged batches are written."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from core.errors import WriteFailed
from schemas.jobs import RowMark
from schemas.plan import Change
from services.providers.base import Layout, Staging
from services.providers.excel import inplace, replace, staging, write
from tests.excel_files import Mode, names_in, provider, read_file, workbook

PEOPLE = Layout(keys=("id",), fields=("id", "name", "count"))
MARK = RowMark(field="status", value="left")


def create(key: str, **fields: str) -> Change:
    return Change(action="create", key=key, match={"id": key}, set={"id": key, **fields})


def update(key: str, **fields: str) -> Change:
    return Change(action="update", key=key, match={"id": key}, set=dict(fields))


def change(action: Any, key: str) -> Change:
    return Change(action=action, key=key, match={"id": key})


RUN: list[list[Change]] = [
    [create("u1", name="Ann again"), create("n1", name="=HYPERLINK(1)", count="7")],
    [create("n2", name="Nia"), update("u2", count="43"), update("ghost", name="x")],
    [update("n1", name="Noor"), change("disable", "u3"), change("enable", "u4")],
    [change("disable", "nobody"), change("delete", "u2"), create("n3", extra="new column")],
    [change("delete", "n2"), update("u2", name="gone")],
    [create("u2", name="Bo back"), create("n2", name="Nia back")],  # deleted, then again
]
"""A run's batches: creates of new and existing keys, updates (one of a row that is not
there), marks set and cleared, deletes, a new column, and keys deleted in one batch and
created again in a later one (written one by one, such a row moves to the end)."""


def seeded(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "people.xlsx"
    rows: list[list[Any]] = [
        ["id", "name", "count", "status"],
        ["u1", "Ann", 1, None],
        ["u2", "Bo", 42, None],
        ["u3", "Cy", 3, None],
        ["u4", "Di", 4, "left"],
    ]
    book = workbook(path, rows)
    book.create_sheet("Notes")["A1"] = "kept"
    book.save(path)
    return path


def cells(path: Path) -> dict[str, list[tuple[object, str]]]:
    """Every sheet's cells in order, value and type; text that looks like a formula must
    be text with Excel's quote prefix."""
    book: Any = openpyxl.load_workbook(path)
    found = {}
    for sheet in book.worksheets:
        found[sheet.title] = [(c.value, c.data_type) for row in sheet.iter_rows() for c in row]
        for row in sheet.iter_rows():
            for c in row:
                if isinstance(c.value, str) and c.value[:1] in "=+-@":
                    assert c.data_type == "s" and c.quotePrefix, c
    return found


async def one_by_one(folder: Path, mode: Mode, run: list[list[Change]]) -> list[list[str | None]]:
    found = []
    for batch in run:
        side = provider(folder, PEOPLE, mode=mode, mark=MARK)
        await side.open(write=True)
        found.append([o.error for o in await side.apply(batch)])
        await side.close()
    return found


async def staged(folder: Path, mode: Mode, run: list[list[Change]]) -> list[list[str | None]]:
    """As the runner drives it: a provider opened for each batch, the batch staged."""
    found = []
    for batch in run:
        side = provider(folder, PEOPLE, mode=mode, mark=MARK)
        assert isinstance(side, Staging)
        await side.open(write=True)
        found.append([o.error for o in await side.stage(batch)])
        await side.close()
    return found


async def finish(folder: Path, mode: Mode = "update") -> None:
    side = provider(folder, PEOPLE, mode=mode, mark=MARK)
    await side.finish()


@pytest.mark.parametrize("mode", ["update", "replace"])
async def test_a_staged_run_leaves_the_sheet_and_outcomes_as_writing_each_batch(
    tmp_path: Path, mode: Mode
) -> None:
    direct, later = seeded(tmp_path / "direct"), seeded(tmp_path / "staged")
    before = later.read_bytes()

    expected = await one_by_one(direct.parent, mode, RUN)
    outcomes = await staged(later.parent, mode, RUN)

    assert later.read_bytes() == before  # nothing written before the run's end
    assert outcomes == expected
    assert expected[1][2] == "no row with 'ghost' to update"
    assert expected[3][0] == "no row with 'nobody' to disable"
    assert expected[4][1] == "no row with 'u2' to update"
    await finish(later.parent, mode)
    assert cells(later) == cells(direct)
    assert names_in(later.parent) == ["people.xlsx"]  # nothing staged is left behind
    rows = await read_file(later.parent)
    assert [r["id"] for r in rows] == ["u1", "u3", "u4", "n1", "n3", "u2", "n2"]


@pytest.mark.parametrize("mode", ["update", "replace"])
async def test_a_first_run_into_a_new_workbook_writes_once_at_the_end(
    tmp_path: Path, mode: Mode, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = [[create(f"u{b}-{i}", name=f"+{i}") for i in range(50)] for b in range(6)]
    direct, later = tmp_path / "direct", tmp_path / "staged"
    direct.mkdir()
    later.mkdir()
    await one_by_one(direct, mode, run)
    writes: list[int] = []
    real = write.save_atomically

    def counted(path: Path, save: Any) -> None:
        writes.append(1)
        real(path, save)

    monkeypatch.setattr(inplace, "save_atomically", counted)
    monkeypatch.setattr(replace, "save_atomically", counted)
    assert await staged(later, mode, run) == [[None] * 50] * 6
    assert not (later / "people.xlsx").exists()
    await finish(later, mode)
    assert cells(later / "people.xlsx") == cells(direct / "people.xlsx")
    assert len(writes) == 1


async def test_a_batch_delivered_again_is_staged_once_and_keeps_its_outcomes(
    tmp_path: Path,
) -> None:
    path = seeded(tmp_path / "books")
    batch = [create("n1", name="Nia"), change("delete", "u1"), update("u1", name="x")]
    first = await staged(path.parent, "update", [batch])
    again = await staged(path.parent, "update", [batch])  # its runner died before the ack
    assert first == again == [[None, None, "no row with 'u1' to update"]]
    assert len(staging.Journal(path).names()) == 1
    await finish(path.parent)
    once = cells(path)
    assert await staged(path.parent, "update", [batch]) == first  # again, after the end
    await finish(path.parent)
    assert cells(path) == once


async def test_outcomes_count_the_batches_staged_before(tmp_path: Path) -> None:
    path = seeded(tmp_path / "books")
    outcomes = await staged(
        path.parent,
        "replace",
        [[create("n1")], [update("n1", name="Nia"), change("delete", "u1")], [update("u1")]],
    )
    assert outcomes == [[None], [None, None], ["no row with 'u1' to update"]]


@pytest.mark.parametrize("mode", ["update", "replace"])
async def test_a_batch_that_fails_to_stage_fails_alone_and_is_staged_when_retried(
    tmp_path: Path, mode: Mode, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = seeded(tmp_path / "books")
    before = path.read_bytes()
    await staged(path.parent, mode, RUN[:2])
    real = os.fsync

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(WriteFailed, match=r"cannot stage a batch .* No space left on device"):
        await staged(path.parent, mode, RUN[2:3])
    assert path.read_bytes() == before
    assert len(staging.Journal(path).names()) == 2  # the batches acknowledged are kept

    monkeypatch.setattr(os, "fsync", real)
    await staged(path.parent, mode, RUN[2:])  # delivered again, then the rest
    await finish(path.parent, mode)
    direct = seeded(tmp_path / "direct")
    await one_by_one(direct.parent, mode, RUN)
    assert cells(path) == cells(direct)


@pytest.mark.parametrize("mode", ["update", "replace"])
async def test_a_failed_end_leaves_the_old_workbook_and_keeps_the_batches(
    tmp_path: Path, mode: Mode, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = seeded(tmp_path / "books")
    before = path.read_bytes()
    await staged(path.parent, mode, RUN)

    def full_disk(self: Any, filename: Any) -> None:
        Path(filename).write_bytes(b"PK\x03\x04half a workbook")
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(openpyxl.Workbook, "save", full_disk)
        with pytest.raises(WriteFailed, match="No space left on device"):
            await finish(path.parent, mode)
    assert path.read_bytes() == before
    assert names_in(path.parent) == [".people.xlsx.staged", "people.xlsx"]

    await finish(path.parent, mode)  # the run's end, delivered again
    direct = seeded(tmp_path / "direct")
    await one_by_one(direct.parent, mode, RUN)
    assert cells(path) == cells(direct)


@pytest.mark.parametrize("mode", ["update", "replace"])
async def test_a_crash_between_batches_leaves_the_workbook_and_the_next_read_writes_them(
    tmp_path: Path, mode: Mode
) -> None:
    path = seeded(tmp_path / "books")
    before = path.read_bytes()
    await staged(path.parent, mode, RUN[:3])
    staging._KNOWN.clear()  # the process that staged them is gone
    (staging.Journal(path).folder / ".0123abcd.json").write_bytes(b'{"half": ')  # cut short
    assert path.read_bytes() == before

    records = await read_file(path.parent)  # the next run's plan reads the sheet
    direct = seeded(tmp_path / "direct")
    await one_by_one(direct.parent, mode, RUN[:3])
    assert records == await read_file(direct.parent)
    assert cells(path) == cells(direct)
    assert names_in(path.parent) == ["people.xlsx"]


async def test_a_crash_after_the_workbook_is_written_writes_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = seeded(tmp_path / "books")
    await staged(path.parent, "update", RUN)

    def crash(self: Any, names: list[str]) -> None:
        raise SystemExit("killed")

    with monkeypatch.context() as patched:
        patched.setattr(staging.Journal, "forget", crash)
        with pytest.raises(SystemExit):
            await finish(path.parent)
    written = cells(path)
    assert len(staging.Journal(path).names()) == len(RUN)

    await finish(path.parent)  # the run's end again: the batches applied twice
    assert cells(path) == written


async def test_writing_directly_writes_what_is_staged_first(tmp_path: Path) -> None:
    path = seeded(tmp_path / "books")
    await staged(path.parent, "update", [[create("n1", name="Nia")], [change("delete", "u2")]])
    side = provider(path.parent, PEOPLE)
    await side.open(write=True)
    assert [o.error for o in await side.apply([update("n1", name="Noor")])] == [None]
    assert [(r["id"], r["name"]) for r in await read_file(path.parent)] == [
        ("u1", "Ann"),
        ("u3", "Cy"),
        ("u4", "Di"),
        ("n1", "Noor"),
    ]
    assert names_in(path.parent) == ["people.xlsx"]


async def test_a_batch_past_the_sheets_last_row_fails_when_staged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = seeded(tmp_path / "books")
    monkeypatch.setattr(staging, "MAX_ROWS", 8)
    await staged(path.parent, "update", [[create("n1"), create("n2")]])  # rows 6 and 7
    with pytest.raises(WriteFailed, match="has Excel's 8 rows: full"):
        await staged(path.parent, "update", [[create("n3"), create("n4")]])
    assert await staged(path.parent, "update", [[change("delete", "u1"), create("n3")]]) == [
        [None, None]
    ]


async def test_typed_cells_keep_their_type_through_staged_batches(tmp_path: Path) -> None:
    direct, later = tmp_path / "direct", tmp_path / "staged"
    for folder in (direct, later):
        folder.mkdir()
        book = workbook(folder / "people.xlsx", [["id", "count", "since"], ["u1", 41, None]])
        book.active["C2"] = datetime(2020, 1, 2)
        book.save(folder / "people.xlsx")
    run = [[update("u1", count="42")], [create("u2", count="007")], [update("u2", count="8")]]
    await one_by_one(direct, "update", run)
    await staged(later, "update", run)
    await finish(later)
    assert cells(later / "people.xlsx") == cells(direct / "people.xlsx")
