"""`idsync job preview JOB --export FILE`: the written file, read back as people open it."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from services.cli.client import Session
from services.common.people import write_csv
from services.common.settings import Settings

from .conftest import IDSYNC, JOB_ID, Files, apply_files, env_for

FORMULA = '=HYPERLINK("http://evil.example","click")'
COLUMNS = ["object_type", "key", "action", "container", "field", "old_value", "new_value"]


async def idsync(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [*IDSYNC, *args],
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def read_back(path: Path, fmt: str) -> list[dict[str, str]]:
    """The change rows of an export, as dictionaries of text."""
    if fmt == "csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f))
    if fmt == "json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return [{k: str(v) for k, v in row.items()} for row in data["rows"]]
    book = load_workbook(path, read_only=True)
    header, *rows = [[c or "" for c in row] for row in book["changes"].iter_rows(values_only=True)]
    return [dict(zip(map(str, header), map(str, row), strict=True)) for row in rows]


async def prepared(session: Session, files: Files) -> list[dict[str, str]]:
    """Five people to create, one with a formula for a department and one starting with +."""
    rows = files.write(count=5)
    rows[0]["department"] = FORMULA
    rows[1]["first_name"] = "+Zoë"
    rows[2]["groups"] = "staff|vpn"
    write_csv(files.csv, rows)
    await apply_files(session, files)
    return rows


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
async def test_the_export_holds_every_field_of_every_change(
    settings: Settings, session: Session, files: Files, tmp_path: Path, fmt: str
) -> None:
    await prepared(session, files)
    target = tmp_path / f"plan.{fmt}"
    result = await idsync(settings, "job", "preview", JOB_ID, "--export", str(target))
    assert result.returncode == 0, result.stderr
    assert f"exported 30 rows ({fmt}) to {target}" in result.stdout
    rows = read_back(target, fmt)
    assert len(rows) == 30  # 5 creates x 6 mapped fields
    assert list(rows[0]) == COLUMNS
    assert {row["action"] for row in rows} == {"create"}
    by_field = {(row["key"], row["field"]): row["new_value"] for row in rows}
    # Spreadsheets get the formula as text; JSON keeps the value as it is.
    escaped = fmt != "json"
    assert by_field[("E000001", "department")] == ("'" + FORMULA if escaped else FORMULA)
    assert by_field[("E000002", "given_name")] == ("'+Zoë" if escaped else "+Zoë")
    assert by_field[("E000003", "groups")] == "staff; vpn"  # multi-valued: joined with "; "
    assert not files.db.exists()  # a preview writes nothing


async def test_the_json_export_has_the_plan_hash_and_counts(
    settings: Settings, session: Session, files: Files, tmp_path: Path
) -> None:
    await prepared(session, files)
    target = tmp_path / "plan.txt"
    result = await idsync(
        settings, "job", "preview", JOB_ID, "--export", str(target), "--format", "json", "--json"
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)  # --json still prints only JSON
    exported = json.loads(target.read_text(encoding="utf-8"))
    assert exported["plan_hash"] == shown["plan_hash"]
    assert exported["counts"]["create"] == 5
    assert (exported["job_id"], exported["source_records"]) == (JOB_ID, 5)
    assert exported["destination_records"] == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--export", "plan.txt"], "end it in .csv, .xlsx or .json, or add --format"),
        (["--format", "csv"], "--format csv needs --export FILE"),
        (["--export", "no/such/folder/plan.csv"], "plan.csv: cannot write the export"),
    ],
    ids=["unknown-extension", "format-without-export", "unwritable"],
)
async def test_a_bad_export_is_bad_input(
    settings: Settings,
    session: Session,
    files: Files,
    tmp_path: Path,
    args: list[str],
    expected: str,
) -> None:
    await prepared(session, files)
    args = [str(tmp_path / a) if a.endswith((".txt", ".csv")) else a for a in args]
    result = await idsync(settings, "job", "preview", JOB_ID, *args)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
