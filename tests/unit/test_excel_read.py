"""Reading a sheet: typed cells as one canonical text, the header row (where it is,
merged, empty or repeated names), sheets hidden or missing, formulas' saved values."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import BadInput
from services.providers.base import Layout
from services.providers.excel.values import escape, text_of, unescape
from tests.excel_files import LAYOUT, provider, read, read_file, save_values, workbook


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (42, "42"),
        (-7, "-7"),
        (42.0, "42"),
        (0.5, "0.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e-7, "0.0000001"),
        (1.5e20, "150000000000000000000"),
        (True, "true"),
        (False, "false"),
        (date(2026, 1, 2), "2026-01-02"),
        (datetime(2026, 1, 2), "2026-01-02"),
        (datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05"),
        (datetime(2026, 1, 2, 3, 4, 5, 250_000), "2026-01-02T03:04:05.250"),
        (time(3, 4, 5), "03:04:05"),
        (timedelta(hours=36, seconds=1), "36:00:01"),
        ("  as typed  ", "  as typed  "),
    ],
)
def test_a_typed_value_has_one_text(value: object, text: str) -> None:
    assert text_of(value) == text


@given(st.text())
def test_text_escaped_for_the_xml_reads_back_exactly(text: str) -> None:
    assert unescape(escape(text)) == text
    assert "\r" not in escape(text)


async def test_typed_cells_read_as_canonical_text_the_same_on_every_read(tmp_path: Path) -> None:
    stamp = datetime(2026, 3, 4, 5, 6, 7)
    workbook(
        tmp_path / "people.xlsx",
        [
            ["id", "count", "ratio", "active", "born", "seen", "at", "note"],
            [1001, 3, 0.25, True, date(1990, 2, 3), stamp, time(9, 30), "  text  "],
        ],
    )
    wanted = {
        "id": "1001",
        "count": "3",
        "ratio": "0.25",
        "active": "true",
        "born": "1990-02-03",
        "seen": "2026-03-04T05:06:07",
        "at": "09:30:00",
        "note": "  text  ",
    }
    assert await read_file(tmp_path) == [wanted]
    assert await read_file(tmp_path) == [wanted]


async def test_a_percentage_or_currency_reads_as_its_number_not_its_display(
    tmp_path: Path,
) -> None:
    book = workbook(tmp_path / "people.xlsx", [["id", "share", "pay"], ["u1", 0.125, 1234.5]])
    book.active["B2"].number_format = "0.0%"
    book.active["C2"].number_format = '"€"#,##0.00'
    book.save(tmp_path / "people.xlsx")
    assert await read_file(tmp_path) == [{"id": "u1", "share": "0.125", "pay": "1234.5"}]


async def test_a_number_in_a_zero_padded_format_reads_as_excel_shows_it(tmp_path: Path) -> None:
    # An HR export keyed by employee numbers typed as numbers, formatted "00000": Excel
    # shows 00123, and so must idsync read it, or it matches no "00123" elsewhere.
    rows: list[list[Any]] = [
        ["employee_id", "badge", "share", "floor"],
        [123, 7, 0.5, 3],
        [98765, -42, 2.0, 12.5],
        [1234567, 0, 1, 4],
    ]
    book = workbook(tmp_path / "people.xlsx", rows)
    for row in range(2, 5):
        book.active[f"A{row}"].number_format = "00000"
        book.active[f"B{row}"].number_format = "000"
        book.active[f"C{row}"].number_format = "0"  # no padding: the number
        book.active[f"D{row}"].number_format = "00"
    book.active["A1"].number_format = "@"
    book.save(tmp_path / "people.xlsx")

    layout = Layout(keys=("employee_id",), fields=("employee_id", "badge", "share", "floor"))
    assert await read_file(tmp_path, layout=layout) == [
        {"employee_id": "00123", "badge": "007", "share": "0.5", "floor": "03"},
        {"employee_id": "98765", "badge": "-042", "share": "2", "floor": "12.5"},
        {"employee_id": "1234567", "badge": "000", "share": "1", "floor": "04"},
    ]


async def test_the_header_row_may_be_lower_and_rows_above_it_are_no_records(
    tmp_path: Path,
) -> None:
    workbook(
        tmp_path / "people.xlsx",
        [["Staff list, March"], [], ["id", "name"], ["u1", "Ann"], [], ["u2", "Bo"]],
    )
    side = provider(tmp_path, header_row=3)
    await side.open(write=False)
    assert side.source_fields() == ["id", "name"]
    assert await read(side) == [{"id": "u1", "name": "Ann"}, {"id": "u2", "name": "Bo"}]


async def test_empty_trailing_rows_and_columns_are_not_data(tmp_path: Path) -> None:
    book = workbook(tmp_path / "people.xlsx", [["id", "name", None, None], ["u1", "Ann"]])
    for row in range(3, 40):  # formatted but empty, as a sheet people edited often is
        book.active.cell(row, 6).number_format = "0.00"
        book.active.cell(row, 1).value = ""
    book.save(tmp_path / "people.xlsx")
    assert await read_file(tmp_path) == [{"id": "u1", "name": "Ann"}]


async def test_a_multi_valued_column_splits_on_its_delimiter(tmp_path: Path) -> None:
    workbook(tmp_path / "people.xlsx", [["id", "groups"], ["u1", "staff|vpn||wiki"], ["u2", 7]])
    assert await read_file(tmp_path) == [
        {"id": "u1", "groups": ["staff", "vpn", "wiki"]},
        {"id": "u2", "groups": ["7"]},
    ]


async def test_records_come_in_batches_no_larger_than_asked(tmp_path: Path) -> None:
    workbook(tmp_path / "people.xlsx", [["id"], *[[f"u{i}"] for i in range(25)]])
    side = provider(tmp_path)
    await side.open(write=False)
    sizes = [len(batch) async for batch in side.read(10)]
    assert sizes == [10, 10, 5]


async def test_a_header_merged_from_above_names_its_column(tmp_path: Path) -> None:
    """A two-row header: "id" spans rows 1-2, "Address" spans the street and city columns."""
    book = workbook(
        tmp_path / "people.xlsx",
        [["id", "Address", None], [None, "street", "city"], ["u1", "Main St", "Oslo"]],
    )
    book.active.merge_cells("A1:A2")
    book.active.merge_cells("B1:C1")
    book.save(tmp_path / "people.xlsx")
    assert await read_file(tmp_path, header_row=2) == [
        {"id": "u1", "street": "Main St", "city": "Oslo"}
    ]


async def test_a_value_under_a_header_merged_across_columns_names_the_cell_and_the_merge(
    tmp_path: Path,
) -> None:
    book = workbook(tmp_path / "people.xlsx", [["id", "phone", None], ["u1", "123", "456"]])
    book.active.merge_cells("B1:C1")
    book.save(tmp_path / "people.xlsx")
    with pytest.raises(
        BadInput, match=r"people\.xlsx, sheet 'People', cell C2: .*merged cell B1:C1"
    ):
        await read_file(tmp_path)


async def test_a_value_merged_down_several_rows_is_refused_not_read_as_empty_below(
    tmp_path: Path,
) -> None:
    """A department typed once and merged down its people: Excel shows it on every row,
    but saves it in the first cell only; the others read empty would clear it."""
    book = workbook(
        tmp_path / "people.xlsx",
        [["id", "name"], ["u1", "Sales"], ["u2", None], ["u3", None], ["u4", "IT"]],
    )
    book.active.merge_cells("B2:B4")
    book.save(tmp_path / "people.xlsx")
    side = provider(tmp_path)
    await side.open(write=False)
    with pytest.raises(
        BadInput, match=r"people\.xlsx, sheet 'People', cells B3:B4: .*merged cell B2:B4"
    ):
        await read(side, batch_size=1)


async def test_a_header_merged_across_empty_columns_is_read(tmp_path: Path) -> None:
    book = workbook(
        tmp_path / "people.xlsx", [["id", "note", None, "mail"], ["u1", "hi", None, "m"]]
    )
    book.active.merge_cells("B1:C1")
    book.save(tmp_path / "people.xlsx")
    assert await read_file(tmp_path) == [{"id": "u1", "note": "hi", "mail": "m"}]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [["id", "name", "id"], ["u1", "Ann", "x"]],
            r"people\.xlsx, sheet 'People': the header names 'id' twice \(cells A1 and C1\)",
        ),
        (
            [["id", None, "name"], ["u1", "x", "Ann"]],
            r"people\.xlsx, sheet 'People', cell B1: column B of the header has no name",
        ),
        (
            [["id", "name"], ["u1", "Ann", "stray"]],
            r"cell C2: a value in column C, which has no name in the header \(row 1\)",
        ),
        ([], r"people\.xlsx, sheet 'People': the sheet has no rows, but row 1 must name"),
        ([[None], ["u1"]], r"row 1 is empty, but row 1 must name the fields"),
    ],
    ids=["duplicate", "empty name", "unnamed column", "empty sheet", "empty header"],
)
async def test_a_header_that_cannot_name_the_fields_is_an_error_naming_the_cells(
    tmp_path: Path, rows: list[list[Any]], message: str
) -> None:
    workbook(tmp_path / "people.xlsx", rows)
    with pytest.raises(BadInput, match=message):
        await read_file(tmp_path)


async def test_a_header_repeated_lower_in_the_sheet_is_refused_naming_its_row(
    tmp_path: Path,
) -> None:
    """Two exports pasted into one sheet: the second header is no person called "id"."""
    workbook(
        tmp_path / "people.xlsx", [["id", "name"], ["u1", "Ann"], ["id", "name"], ["u2", "Bo"]]
    )
    side = provider(tmp_path)
    await side.open(write=False)
    with pytest.raises(BadInput, match=r"sheet 'People', row 3: the header row again"):
        await read(side, batch_size=1)


async def test_the_first_visible_sheet_is_read_and_a_hidden_one_when_named(
    tmp_path: Path,
) -> None:
    book: Any = openpyxl.Workbook()
    lists = book.active
    lists.title = "Lists"
    lists.append(["code"])
    lists.append(["hidden"])
    lists.sheet_state = "hidden"
    people = book.create_sheet("People")
    people.append(["id"])
    people.append(["u1"])
    book.save(tmp_path / "people.xlsx")
    assert await read_file(tmp_path) == [{"id": "u1"}]
    assert await read_file(tmp_path, sheet="Lists") == [{"code": "hidden"}]
    assert await read_file(tmp_path, sheet="people") == [{"id": "u1"}]  # Excel ignores case


async def test_a_missing_sheet_names_the_sheets_there(tmp_path: Path) -> None:
    book = workbook(tmp_path / "people.xlsx", [["id"]])
    book.create_sheet("Lists").sheet_state = "hidden"
    book.save(tmp_path / "people.xlsx")
    with pytest.raises(
        BadInput,
        match=r"people\.xlsx: no sheet named 'Staff'; its sheets: 'People', 'Lists' \(hidden\)\. "
        r"Fix `sheet`",
    ):
        await read_file(tmp_path, sheet="Staff")


async def test_a_formula_reads_as_its_saved_value(tmp_path: Path) -> None:
    workbook(
        tmp_path / "people.xlsx",
        [["id", "first", "last", "name"], ["u1", "Ann", "Lee", '=B2&" "&C2']],
    )
    save_values(tmp_path / "people.xlsx", {"D2": "Ann Lee"})
    book = tmp_path / "people.xlsx"
    assert await read_file(tmp_path) == [
        {"id": "u1", "first": "Ann", "last": "Lee", "name": "Ann Lee"}
    ]
    assert book.exists()


async def test_a_formula_without_a_saved_value_is_an_error_naming_the_cell(
    tmp_path: Path,
) -> None:
    workbook(tmp_path / "people.xlsx", [["id", "n"], ["u1", 1], ["u2", "=B2+1"]])
    with pytest.raises(
        BadInput,
        match=r"people\.xlsx, sheet 'People', cell B3: the formula =B2\+1 has no saved value.*"
        r"open the workbook in Excel or LibreOffice and save it",
    ):
        await read_file(tmp_path)


async def test_text_with_carriage_returns_and_escapes_as_excel_writes_them(
    tmp_path: Path,
) -> None:
    """Excel keeps a carriage return as _x000D_ and a literal "_x0041_" as _x005F_x0041_."""
    workbook(tmp_path / "people.xlsx", [["id", "note"], ["u1", "PLACEHOLDER"]])

    def excel_like(xml: bytes) -> bytes:
        return xml.replace(b"PLACEHOLDER", b"a_x000D_\nb _x005F_x0041_")

    from tests.excel_files import edit_part

    edit_part(tmp_path / "people.xlsx", "xl/worksheets/sheet1.xml", excel_like)
    assert await read_file(tmp_path) == [{"id": "u1", "note": "a\r\nb _x0041_"}]


def test_the_layout_of_the_tests_is_the_provider_s() -> None:
    assert provider(Path("/nonexistent")).canonical({"id": "u1", "name": ""}) == {"id": "u1"}
    assert LAYOUT.multi_valued == {"groups": "|"}


async def test_changed_rows_are_those_whose_typed_timestamp_is_at_or_after_the_watermark(
    tmp_path: Path,
) -> None:
    workbook(
        tmp_path / "people.xlsx",
        [["id", "modified"], *([f"u{d}", datetime(2026, 1, d, 8)] for d in (3, 9, 5, 12))],
    )
    side = provider(tmp_path)
    await side.open(write=False)
    changed = [
        r
        async for batch in side.read_changed(100, "2026-01-05T08:00:00", "modified")
        for r in batch
    ]
    assert [r["id"] for r in changed] == ["u9", "u5", "u12"]
    assert side.watermark() == "2026-01-12T08:00:00"
