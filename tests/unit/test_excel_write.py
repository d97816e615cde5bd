"""Writing a sheet, in place and anew: what stays of the workbook, text that looks like a
formula, typed cells, marks, the rename over the old file and writers taking turns."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.styles import Font

from core.errors import BadInput, WriteFailed
from schemas.jobs import RowMark
from schemas.plan import Change
from services.providers.base import Layout
from tests.excel_files import (
    Mode,
    names_in,
    provider,
    read,
    read_file,
    save_values,
    workbook,
)

PEOPLE = Layout(keys=("id",), fields=("id", "name", "count", "since"))


def create(key: str, **fields: str | list[str]) -> Change:
    return Change(action="create", key=key, match={"id": key}, set={"id": key, **fields})


def update(key: str, **fields: str) -> Change:
    return Change(action="update", key=key, match={"id": key}, set=dict(fields))


def change(action: Any, key: str) -> Change:
    return Change(action=action, key=key, match={"id": key})


def load(path: Path) -> Any:
    return openpyxl.load_workbook(path)


async def apply(folder: Path, changes: list[Change], **options: Any) -> list[str | None]:
    side = provider(folder, options.pop("layout", PEOPLE), **options)
    await side.open(write=True)
    return [outcome.error for outcome in await side.apply(changes)]


@pytest.mark.parametrize("mode", ["update", "replace"])
async def test_text_that_looks_like_a_formula_is_written_as_text(
    tmp_path: Path, mode: Mode
) -> None:
    values = ['=HYPERLINK("http://evil")', "+1", "-2", "@SUM(A1)", "#N/A", "=1+2"]
    changes = [create(f"u{i}", name=v) for i, v in enumerate(values)]
    assert await apply(tmp_path, changes, mode=mode) == [None] * len(values)
    sheet = load(tmp_path / "people.xlsx").active
    cells = [sheet.cell(row, 2) for row in range(2, 2 + len(values))]
    assert [(c.value, c.data_type) for c in cells] == [(v, "s") for v in values]
    assert all(c.quotePrefix for c in cells)
    assert [r["name"] for r in await read_file(tmp_path)] == values


async def test_in_place_changes_only_its_rows_and_keeps_the_rest_of_the_workbook(
    tmp_path: Path,
) -> None:
    path = tmp_path / "people.xlsx"
    rows: list[list[Any]] = [
        ["id", "name", "count", "twice"],
        ["u1", "Ann", 1, None],
        ["u2", "Bo", 2, "=C3*2"],
    ]
    book = workbook(path, [*rows, ["u3", "Cy", 3, None]])
    sheet = book.active
    sheet["A1"].font = Font(bold=True)
    sheet.column_dimensions["B"].width = 40
    notes = book.create_sheet("Notes")
    notes["A1"] = "keep me"
    notes.sheet_state = "hidden"
    book.save(path)
    save_values(path, {"D3": "4"})  # as Excel saves a formula: with its value

    errors = await apply(
        tmp_path, [update("u2", name="Bea"), create("u4", name="Di"), change("delete", "u1")]
    )

    assert errors == [None, None, None]
    after = load(path)
    sheet = after["People"]
    assert [[c.value for c in row][:3] for row in sheet.iter_rows(min_row=1, max_row=4)] == [
        ["id", "name", "count"],
        ["u2", "Bea", 2],
        ["u3", "Cy", 3],
        ["u4", "Di", None],
    ]
    assert sheet["A1"].font.bold and sheet.column_dimensions["B"].width == 40
    assert sheet["D2"].value == "=C3*2"  # moved up with its row, as openpyxl moves cells
    assert after["Notes"]["A1"].value == "keep me" and after["Notes"].sheet_state == "hidden"


async def test_a_typed_cell_keeps_its_type_when_the_text_is_one(tmp_path: Path) -> None:
    path = tmp_path / "people.xlsx"
    book = workbook(path, [["id", "count", "since"], ["u1", 41, datetime(2020, 1, 2)]])
    book.active["C2"].number_format = "dd/mm/yyyy"
    book.save(path)

    await apply(
        tmp_path,
        [
            update("u1", count="42", since="2021-05-06"),
            create("u2", count="007", since="2022-01-01"),
        ],
    )

    sheet = load(path).active
    assert (sheet["B2"].value, sheet["C2"].value) == (42, datetime(2021, 5, 6))
    assert sheet["C2"].number_format == "dd/mm/yyyy"
    assert sheet["B3"].value == "007"  # not the number 7: it would read back "7"
    assert (sheet["C3"].value, sheet["C3"].number_format) == (datetime(2022, 1, 1), "dd/mm/yyyy")
    assert await read_file(tmp_path) == [
        {"id": "u1", "count": "42", "since": "2021-05-06"},
        {"id": "u2", "count": "007", "since": "2022-01-01"},
    ]


async def test_a_zero_padded_number_is_found_by_its_shown_key_and_stays_a_number(
    tmp_path: Path,
) -> None:
    path = tmp_path / "people.xlsx"
    book = workbook(path, [["id", "name", "count"], [123, "Ann", 5], [124, "Bo", 6]])
    for cell in ("A2", "A3", "C2", "C3"):
        book.active[cell].number_format = "00000"
    book.save(path)
    assert [r["id"] for r in await read_file(tmp_path, layout=PEOPLE)] == ["00123", "00124"]

    errors = await apply(
        tmp_path,
        [
            update("00123", name="Ann B", count="00042"),
            create("00125", name="Cy", count="00007"),
            change("delete", "00124"),
        ],
    )

    assert errors == [None, None, None]
    sheet = load(path).active
    assert [(r[0].value, r[1].value, r[2].value) for r in sheet.iter_rows(min_row=2)] == [
        (123, "Ann B", 42),
        (125, "Cy", 7),
    ]
    assert sheet["A3"].number_format == "00000"  # the new row takes the format above
    assert await read_file(tmp_path, layout=PEOPLE) == [
        {"id": "00123", "name": "Ann B", "count": "00042"},
        {"id": "00125", "name": "Cy", "count": "00007"},
    ]


@pytest.mark.parametrize("mode", ["update", "replace"])
async def test_disable_marks_the_row_and_enable_clears_the_mark(tmp_path: Path, mode: Mode) -> None:
    workbook(tmp_path / "people.xlsx", [["id", "name"], ["u1", "Ann"], ["u2", "Bo"]])
    mark = RowMark(field="status", value="left")
    assert await apply(
        tmp_path, [change("disable", "u1"), change("disable", "u2")], mode=mode, mark=mark
    ) == [None, None]
    assert await read_file(tmp_path) == [
        {"id": "u1", "name": "Ann", "status": "left"},
        {"id": "u2", "name": "Bo", "status": "left"},
    ]
    errors = await apply(
        tmp_path, [change("enable", "u2"), change("disable", "ghost")], mode=mode, mark=mark
    )
    assert errors == [None, "no row with 'ghost' to disable"]
    assert await read_file(tmp_path) == [
        {"id": "u1", "name": "Ann", "status": "left"},
        {"id": "u2", "name": "Bo"},
    ]


@pytest.mark.parametrize("mode", ["update", "replace"])
async def test_a_restore_keeps_what_its_update_wrote_in_the_mark_field(
    tmp_path: Path, mode: Mode
) -> None:
    """The mark on a field the job writes too: a restore updates it (update, then enable,
    as a plan orders them); the enable clears only the mark, never that value — else the
    next run writes it again. One row the sheet marks otherwise is no mark to clear."""
    workbook(
        tmp_path / "people.xlsx",
        [["id", "name", "status"], ["u1", "Ann", "left"], ["u2", "Bo", "LEFT "], ["u3", "Cy", "x"]],
    )
    layout = Layout(keys=("id",), fields=("id", "name", "status"))
    mark = RowMark(field="status", value="left")
    restores = [update("u1", status="Active"), change("enable", "u1")]
    restores += [change("enable", "u2"), change("enable", "u3")]
    errors = await apply(tmp_path, restores, mode=mode, mark=mark, layout=layout)
    assert errors == [None, None, None, None]
    assert await read_file(tmp_path) == [
        {"id": "u1", "name": "Ann", "status": "Active"},
        {"id": "u2", "name": "Bo"},
        {"id": "u3", "name": "Cy", "status": "x"},
    ]


async def test_disable_without_a_mark_sets_disabled_yes(tmp_path: Path) -> None:
    workbook(tmp_path / "people.xlsx", [["id"], ["u1"]])
    await apply(tmp_path, [change("disable", "u1")])
    assert await read_file(tmp_path) == [{"id": "u1", "disabled": "yes"}]


async def test_replace_writes_the_sheet_anew_keeping_its_values_and_the_other_sheets(
    tmp_path: Path,
) -> None:
    path = tmp_path / "people.xlsx"
    book: Any = openpyxl.Workbook()
    book.active.title = "Lists"
    book.active["A1"] = 2
    book.active["B1"] = "=A1*21"
    book.active["C1"] = "=text"
    book.active["C1"].data_type = "s"
    people = book.create_sheet("People")
    for row in (["Staff, March"], [], ["id", "name", "count"], ["u1", "Ann", 1], ["u2", "Bo", 2]):
        people.append(row)
    book.active.sheet_state = "hidden"
    book.active = 1
    book.save(path)

    errors = await apply(
        tmp_path,
        [update("u1", name="Ann Lee"), create("u3", name="Cy"), change("delete", "u2")],
        mode="replace",
        sheet="People",
        header_row=3,
    )

    assert errors == [None, None, None]
    after = load(path)
    assert after.sheetnames == ["Lists", "People"]
    lists = after["Lists"]
    assert lists.sheet_state == "hidden"
    assert [(c.value, c.data_type) for c in lists[1]] == [(2, "n"), ("=A1*21", "f"), ("=text", "s")]
    rows = [[c.value for c in row] for row in after["People"].iter_rows()]
    assert rows == [
        ["Staff, March", None, None],
        [None, None, None],
        ["id", "name", "count"],
        ["u1", "Ann Lee", 1],
        ["u3", "Cy", None],
    ]


async def test_replace_refuses_a_workbook_with_a_chart_sheet_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "people.xlsx"
    book = workbook(path, [["id"], ["u1"]])
    book.create_chartsheet("Chart")
    book.save(path)
    before = path.read_bytes()
    with pytest.raises(BadInput, match=r'mode = "replace" .* chart sheet \'Chart\''):
        await apply(tmp_path, [create("u2")], mode="replace")
    assert path.read_bytes() == before


@pytest.mark.parametrize("mode", ["update", "replace"])
async def test_a_failed_write_leaves_the_old_workbook_and_no_temporary_file(
    tmp_path: Path, mode: Mode, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "people.xlsx"
    workbook(path, [["id", "name"], ["u1", "Ann"]])
    before = path.read_bytes()
    side = provider(tmp_path, PEOPLE, mode=mode)
    await side.open(write=True)

    def full_disk(self: Any, filename: Any) -> None:
        Path(filename).write_bytes(b"PK\x03\x04half a workbook")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(openpyxl.Workbook, "save", full_disk)
    with pytest.raises(WriteFailed, match=r"cannot write .*people\.xlsx: No space left on device"):
        await side.apply([update("u1", name="Ann Lee")])
    assert path.read_bytes() == before
    assert names_in(tmp_path) == ["people.xlsx"]


@pytest.mark.parametrize("mode", ["update", "replace"])
async def test_batches_applied_at_once_take_turns_and_all_land(tmp_path: Path, mode: Mode) -> None:
    sides = [provider(tmp_path, PEOPLE, mode=mode) for _ in range(4)]
    for side in sides:
        await side.open(write=True)
    batches = [[create(f"u{b}-{i}", name="x") for i in range(20)] for b in range(4)]
    await asyncio.gather(*(side.apply(batch) for side, batch in zip(sides, batches, strict=True)))
    assert len(await read_file(tmp_path)) == 80


async def test_a_destination_that_is_no_xlsx_is_refused_when_opened(tmp_path: Path) -> None:
    side = provider(tmp_path, PEOPLE, file="people.xls")
    with pytest.raises(BadInput, match=r"people\.xls: idsync writes \.xlsx workbooks only"):
        await side.open(write=True)


async def test_a_new_sheet_is_added_to_a_workbook_that_has_others(tmp_path: Path) -> None:
    workbook(tmp_path / "people.xlsx", [["something else"]], title="Other")
    side = provider(tmp_path, PEOPLE, sheet="People", header_row=2)
    await side.open(write=True)
    assert await read(side) == []
    await side.apply([create("u1", name="Ann")])
    after = load(tmp_path / "people.xlsx")
    assert after.sheetnames == ["Other", "People"]
    assert after["People"]["A2"].value == "id"
    assert await read_file(tmp_path, sheet="People", header_row=2) == [{"id": "u1", "name": "Ann"}]


async def test_a_value_longer_than_a_cell_holds_fails_that_change_only(tmp_path: Path) -> None:
    errors = await apply(tmp_path, [create("u1", name="x" * 40_000), create("u2", name="ok")])
    assert errors[0] == "name: 40,000 characters, more than the 32,767 a cell holds"
    assert errors[1] is None
    assert await read_file(tmp_path) == [{"id": "u2", "name": "ok"}]


async def test_batches_waiting_while_one_is_written_are_written_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runner applies several batches at once: those that wait for the sheet while
    another batch writes it cost one rewrite between them, each told its own outcomes."""
    from services.providers.excel import inplace, write

    writes: list[int] = []
    real = inplace.update

    def counted(file: Any, layout: Layout, changes: list[Any]) -> Any:
        if not writes:  # the first write holds the sheet until every other batch waits
            group = next(iter(write._GROUPS.values()))
            for _ in range(1000):
                if len(group.waiting) + len(changes) // 2 == 4:
                    break
                time.sleep(0.01)
        writes.append(len(changes))
        return real(file, layout, changes)

    monkeypatch.setattr(inplace, "update", counted)
    monkeypatch.setattr(write, "_GROUPS", {})
    sides = [provider(tmp_path, PEOPLE) for _ in range(4)]
    for side in sides:
        await side.open(write=True)
    batches = [[create(f"u{b}"), update(f"ghost{b}", name="x")] for b in range(4)]
    found = await asyncio.gather(*(s.apply(b) for s, b in zip(sides, batches, strict=True)))

    assert len(writes) <= 2 and sum(writes) == 8  # four batches of two changes
    assert [[o.error for o in outcomes] for outcomes in found] == [
        [None, f"no row with 'ghost{b}' to update"] for b in range(4)
    ]
    assert sorted(str(r["id"]) for r in await read_file(tmp_path)) == ["u0", "u1", "u2", "u3"]


@pytest.mark.parametrize("mode", ["update", "replace"])
async def test_a_destination_whose_header_row_is_empty_above_data_is_refused_untouched(
    tmp_path: Path, mode: Mode
) -> None:
    path = tmp_path / "people.xlsx"
    book = workbook(path, [["id", "name"], ["u1", "Ann"]])
    book.active.insert_rows(1)
    book.active["A1"].number_format = "0.00"  # a styled, empty header row
    book.save(path)
    before = path.read_bytes()
    with pytest.raises(BadInput, match=r"row 1 is empty, but row 1 must name the fields"):
        await apply(tmp_path, [create("u2", name="Bo")], mode=mode)
    assert path.read_bytes() == before
