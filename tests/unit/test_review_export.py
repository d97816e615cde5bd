"""`idsync run review --export`: where the file goes, and a workbook in the layout of a
preview's export, read back (services/cli/review.py, services/common/report_writer.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from core.engine.report import COLUMNS
from core.errors import BadInput
from core.runs import RunStory
from schemas.history import ChangeRow
from schemas.plan import PlanCounts, RunStats
from services.cli.review import _export_target, _print, write_review
from services.common.history_client import Review


def test_where_each_export_goes() -> None:
    assert _export_target(None, "r1") is None
    assert _export_target("csv", "r1") is None and _export_target("json", "r1") is None
    assert _export_target("xlsx", "r1") == (Path("r1.xlsx"), "xlsx")
    assert _export_target("out/a.XLSX", "r1") == (Path("out/a.XLSX"), "xlsx")
    with pytest.raises(BadInput, match=r"end it in \.csv, \.xlsx or \.json"):
        _export_target("review.txt", "r1")


def test_a_reviews_workbook_has_the_previews_columns_then_the_runs_own(tmp_path: Path) -> None:
    rows = [
        ChangeRow(
            run_id="r1",
            job_id="hr",
            batch=1,
            n=0,
            object_type="user",
            key="E1",
            action="update",
            identifier="uid=E1,ou=people,dc=example,dc=org",
            field="department",
            old="Research",
            new="=HYPERLINK(1)",
            at="2026-01-01T00:00:00+00:00",
        ),
        ChangeRow(
            run_id="r1",
            job_id="hr",
            batch=1,
            n=1,
            object_type="user",
            key="E2",
            action="create",
            field="mail",
            new="b@example.org",
            outcome="failed",
            error="refused",
        ),
    ]
    story = RunStory(run_id="r1", job_id="hr", state="finished", stats=RunStats(updated=1))
    review = Review(run=story, errors=[], changes=rows, events=[], logs=[])
    path = tmp_path / "review.xlsx"
    write_review(review, path, "xlsx")
    book = load_workbook(path, read_only=True)
    header, *cells = list(book["changes"].iter_rows(values_only=True))
    assert header == (*COLUMNS, "outcome", "error", "applied_at", "batch", "identifier")
    assert cells[0][:7] == (
        "user",
        "E1",
        "update",
        None,
        "department",
        "Research",
        "'=HYPERLINK(1)",
    )
    assert cells[1][7:9] == ("failed", "refused")
    assert [row[11] for row in cells] == ["uid=E1,ou=people,dc=example,dc=org", None]
    summary = {r[0]: r[1] for r in book["summary"].iter_rows(values_only=True)}
    assert summary["run"] == "r1" and summary["updated"] == 1 and summary["fields written"] == 2


def test_the_reviews_plan_line_shows_every_count_moves_included(
    capsys: pytest.CaptureFixture[str],
) -> None:
    story = RunStory(
        run_id="r1",
        job_id="hr",
        state="finished",
        plan_hash="4f067fc33fde0000",
        planned=PlanCounts(update=1, move=1, unchanged=248, skipped=8),
        stats=RunStats(read=249, updated=1, moved=1, unchanged=248, skipped=8),
    )
    _print(Review(run=story, errors=[], changes=[], events=[], logs=[]), 20, 0)
    assert (
        "  plan 4f067fc33fde: 0 create, 1 update, 0 delete, 0 disable, 1 move, 0 enable, "
        "248 unchanged, 8 skipped\n"
    ) in capsys.readouterr().out


def test_a_move_in_the_review_says_where_the_object_went(
    capsys: pytest.CaptureFixture[str],
) -> None:
    move = ChangeRow(
        run_id="r1",
        job_id="hr",
        batch=2,
        n=0,
        object_type="user",
        key="1100",
        action="move",
        identifier="uid=babshire,ou=Staff,dc=example,dc=com",
        container="ou=Gone,ou=Staff,dc=example,dc=com",
    )
    story = RunStory(run_id="r1", job_id="hr", state="finished", stats=RunStats(moved=1))
    _print(Review(run=story, errors=[], changes=[move], events=[], logs=[]), 20, 0)
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("1100"))
    assert line.split() == ["1100", "move", "→", "ou=Gone,ou=Staff,dc=example,dc=com", "applied"]


def test_the_csv_of_changes_says_where_a_moved_object_went() -> None:
    import csv
    import io

    from services.common.history_client import csv_text

    move = ChangeRow(
        run_id="r1",
        job_id="hr",
        batch=2,
        n=0,
        object_type="user",
        key="1100",
        action="move",
        identifier="uid=babshire,ou=Staff,dc=example,dc=com",
        container="ou=Gone,ou=Staff,dc=example,dc=com",
        at="2026-12-07T05:21:01+00:00",
    )
    [row] = list(csv.DictReader(io.StringIO(csv_text([move]))))
    assert (row["action"], row["container"]) == ("move", "ou=Gone,ou=Staff,dc=example,dc=com")


def test_the_review_and_its_export_keep_the_plans_warnings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Why a run deleted nothing (a record with an empty key) is in the history too.
    why = (
        "1 source record has values but an empty key (employee_id): it could be the 1 "
        "destination object missing from the source, so none is deleted in this run; give "
        "each record a key in the source, or leave such records out (the source's `where`)"
    )
    story = RunStory(
        run_id="r1",
        job_id="hr",
        state="finished",
        planned=PlanCounts(unchanged=2, skipped=2),
        stats=RunStats(read=3, unchanged=2, skipped=2),
        warnings=[why, "source record skipped, empty key (employee_id): {}"],
        warnings_total=3,
    )
    review = Review(run=story, errors=[], changes=[], events=[], logs=[])
    _print(review, 20, 0)
    out = capsys.readouterr().out
    assert f"warnings: 3\n  {why}\n" in out
    assert "  ... and 1 more warnings\n" in out
    path = tmp_path / "review.xlsx"
    write_review(review, path, "xlsx")
    rows = list(load_workbook(path, read_only=True)["summary"].iter_rows(values_only=True))
    assert ("warnings", 3) in rows and ("warning", why) in rows


def test_the_review_names_the_approvers_as_run_show_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The request went on at once (the workflow's approval), then ada approved the plan
    # over the safety limits: ada approved it, as `idsync run show` says.
    story = RunStory(
        run_id="r1",
        job_id="hr",
        state="finished",
        approvals=["workflow", "ada"],
        stats=RunStats(deleted=11),
    )
    review = Review(run=story, errors=[], changes=[], events=[], logs=[])
    _print(review, 20, 0)
    assert "  approved by ada\n" in capsys.readouterr().out
    path = tmp_path / "review.xlsx"
    write_review(review, path, "xlsx")
    rows = list(load_workbook(path, read_only=True)["summary"].iter_rows(values_only=True))
    assert [row[1] for row in rows if row[0] == "approved by"] == ["ada"]


def test_the_review_counts_deletes_apart_from_fields_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # 11 deletes wrote no field: "11 fields written" said otherwise.
    rows = [
        ChangeRow(
            run_id="r1", job_id="hr", batch=1, n=n, object_type="user", key=f"p{n}", action="delete"
        )
        for n in range(11)
    ]
    rows.append(
        ChangeRow(
            run_id="r1",
            job_id="hr",
            batch=1,
            n=11,
            object_type="user",
            key="p20",
            action="update",
            field="mail",
            old="a",
            new="b",
        )
    )
    story = RunStory(run_id="r1", job_id="hr", state="finished", stats=RunStats(deleted=11))
    _print(Review(run=story, errors=[], changes=rows, events=[], logs=[]), 20, 0)
    out = capsys.readouterr().out
    assert (
        "changes: 12 rows: 1 field written, 11 objects deleted, disabled, moved or enabled\n" in out
    )
    path = tmp_path / "review.xlsx"
    write_review(Review(run=story, errors=[], changes=rows, events=[], logs=[]), path, "xlsx")
    rows_read = load_workbook(path, read_only=True)["summary"].iter_rows(values_only=True)
    summary = {r[0]: r[1] for r in rows_read}
    assert (summary["change rows"], summary["fields written"]) == (12, 1)
