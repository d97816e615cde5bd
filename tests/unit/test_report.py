"""A plan as rows, values as cells, and cells a spreadsheet will not run."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from openpyxl import load_workbook

from core.engine.report import COLUMNS, PlanReport, Row, report, rows, spreadsheet_safe
from core.engine.report import text as cell_text
from core.errors import BadInput
from schemas.plan import Change, PlanCounts
from schemas.values import Binary, Value
from services.cli.export import export_format
from services.common.report_writer import XLSX_MAX_CELL, write_report

CHANGES = [
    Change(
        action="create",
        key="alice",
        match={"uid": "alice"},
        set={"uid": "alice", "groups": ["a", "b"]},
        container="ou=People,dc=x",
    ),
    Change(
        action="update",
        key="bob",
        match={"uid": "bob"},
        set={"mail": "new@x"},
        clear=("phone",),
        before={"mail": "old@x", "phone": "123"},
    ),
    Change(action="move", key="carl", match={"uid": "carl"}, container="ou=Former,dc=x"),
    Change(action="delete", key="dora", match={"uid": "dora"}, object_type="contact"),
]


def test_one_row_per_field_and_one_per_change_without_fields() -> None:
    assert [row.cells() for row in rows(CHANGES)] == [
        ("user", "alice", "create", "ou=People,dc=x", "uid", "", "alice"),
        ("user", "alice", "create", "ou=People,dc=x", "groups", "", "a; b"),
        ("user", "bob", "update", "", "mail", "old@x", "new@x"),
        ("user", "bob", "update", "", "phone", "123", ""),
        ("user", "carl", "move", "ou=Former,dc=x", "", "", ""),
        ("contact", "dora", "delete", "", "", "", ""),
    ]
    assert tuple(Row.__struct_fields__) == COLUMNS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("", ""),
        ("José", "José"),
        (["a", "b", "c"], "a; b; c"),
        ([], ""),
        (Binary(b"\x00" * 1234), "(binary, 1,234 bytes)"),
    ],
)
def test_text(value: Value | None, expected: str) -> None:
    assert cell_text(value) == expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("a=b", "a=b"),
        (" =1", " =1"),
        ("", ""),
        ("'quoted", "'quoted"),
        ("José", "José"),
    ],
)
def test_spreadsheet_safe(cell: str, expected: str) -> None:
    assert spreadsheet_safe(cell) == expected


def the_report(changes: list[Change]) -> PlanReport:
    return report(
        "hr",
        "ab" * 32,
        PlanCounts(create=1),
        changes,
        source_records=3,
        destination_records=2,
        warnings=["odd"],
    )


def test_the_report_holds_identity_counts_and_rows() -> None:
    made = the_report(CHANGES)
    assert (made.job_id, made.plan_hash, made.counts.create) == ("hr", "ab" * 32, 1)
    assert (made.source_records, made.destination_records) == (3, 2)
    assert made.rows == list(rows(CHANGES)) and made.warnings == ["odd"]
    assert msgspec.json.decode(msgspec.json.encode(made), type=PlanReport) == made


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("plan.csv", None, "csv"),
        ("PLAN.XLSX", None, "xlsx"),
        ("plan.json", None, "json"),
        ("plan.txt", "csv", "csv"),
        ("plan", "json", "json"),
    ],
)
def test_export_format(name: str, given: str | None, expected: str) -> None:
    assert export_format(Path(name), given) == expected


def test_an_unknown_export_format_says_what_to_do() -> None:
    with pytest.raises(BadInput, match=r"plan\.txt: .*\.csv, \.xlsx or \.json, or add --format"):
        export_format(Path("plan.txt"), None)


def test_an_unwritable_export_names_the_file(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "plan.csv"
    with pytest.raises(BadInput, match=r"plan\.csv: cannot write the export"):
        write_report(the_report(CHANGES), target, "csv")
    assert not target.parent.exists()


def test_xlsx_cells_hold_what_xml_cannot_and_stay_within_limits(tmp_path: Path) -> None:
    long = "x" * (XLSX_MAX_CELL + 10)
    change = Change(
        action="create",
        key="a\x00b",
        match={"uid": "a\x00b"},
        set={"note": long, "formula": "=1+2"},
    )
    target = tmp_path / "plan.xlsx"
    write_report(the_report([change]), target, "xlsx")
    book = load_workbook(target, read_only=True)
    cells = [[c.value for c in row] for row in book["changes"].iter_rows()]
    assert cells[1][1] == "a\\x00b"
    long_cell = str(cells[1][6])
    assert len(long_cell) == XLSX_MAX_CELL and long_cell.endswith("cell holds)")
    assert cells[2][6] == "'=1+2"
    summary = dict((name, value) for name, value in book["summary"].iter_rows(values_only=True))
    assert summary["plan hash"] == "ab" * 32 and summary["create"] == 1
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left
