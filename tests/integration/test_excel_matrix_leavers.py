"""An HR export's leavers into an Excel sheet through every service, in every shape of run
— whole, scoped to keys, incremental: a leaver's row is marked (`mark`), then cleared when
the person is back, a row whose status the job also writes keeps what the restore wrote;
each run's preview plans what it runs, and a run after each plans nothing."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.settings import Settings

from .conftest import RunServices
from .ldap_helpers import define
from .previews import preview_json

JOB = "sheet-leavers"
CONNECTIONS = """\
[hr]
provider = "csv"
directory = "data"
delimiter = ";"

[books]
provider = "excel"
directory = "data"
"""
MARK = '{ field = "state", value = "left" }'
JOB_TOML = f"""id = "{JOB}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "books", file = "people.xlsx", mark = {MARK} }}
safety = {{ max_percent = 100 }}
changes = {{ field = "at" }}

[[objects]]
keys = ["id"]
on_destination_only = "disable"
restore = true
leavers = {{ when = {{ field = "status", equals = "left" }}, action = "disable" }}
fields = [
  {{ to = "id" }},
  {{ to = "name" }},
  {{ to = "state", from = "status" }},
]
"""
OLD, NEW, NEWER = "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z"


class Sheet:
    def __init__(self, folder: Path, session: Session, settings: Settings) -> None:
        self.folder, self.session, self.settings = folder, session, settings

    def write(self, rows: list[dict[str, str]]) -> None:
        with (self.folder / "data" / "people.csv").open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=["id", "name", "status", "at"], delimiter=";")
            writer.writeheader()
            writer.writerows(rows)

    async def run(self, capsys: pytest.CaptureFixture[str], shape: str, key: str) -> RunFinished:
        keys = [key] if shape == "key" else None
        changed = shape == "incremental"
        options = ["--key", key] if keys else []
        options += ["--changed-only"] if changed else []
        previewed = await preview_json(self.settings, capsys, JOB, *options)
        _, end = await follow_run(self.session, JOB, keys, changed_only=changed)
        assert isinstance(end, RunFinished), end
        assert end.plan_hash == previewed["plan_hash"], "the preview planned another plan"
        return end

    def rows(self) -> dict[str, list[Any]]:
        sheet: Any = openpyxl.load_workbook(self.folder / "data" / "people.xlsx").active
        return {str(row[0].value): [c.value for c in row[1:]] for row in sheet.iter_rows(min_row=2)}


def person(n: int, status: str = "active", at: str = OLD) -> dict[str, str]:
    return {"id": f"p{n}", "name": f"Person {n}", "status": status, "at": at}


@pytest.mark.parametrize("shape", ["whole", "key", "incremental"])
async def test_a_leavers_row_is_marked_then_cleared_in_every_shape(
    tmp_path: Path,
    session: Session,
    services: RunServices,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    shape: str,
) -> None:
    folder = tmp_path / "job"
    await define(session, folder, CONNECTIONS, JOB_TOML)
    book: Any = openpyxl.Workbook()
    book.active.append(["id", "name", "state"])
    book.save(folder / "data" / "people.xlsx")
    s = Sheet(folder, session, settings)
    s.write([person(1), person(2)])
    async with services():
        first = await s.run(capsys, "whole", "")
        assert (first.stats.created, first.stats.failed) == (2, 0), first.stats
        assert s.rows() == {"p1": ["Person 1", "active"], "p2": ["Person 2", "active"]}

        s.write([person(1), person(2, "left", NEW)])
        left = await s.run(capsys, shape, "p2")
        assert (left.stats.disabled, left.stats.failed) == (1, 0), left.stats
        assert s.rows()["p2"] == ["Person 2", "left"]
        for again_shape in ("whole", "key", "incremental"):
            again = await s.run(capsys, again_shape, "p2")
            assert (again.stats.written, again.stats.failed) == (0, 0), (again_shape, again.stats)

        s.write([person(1), person(2, "active", NEWER)])
        back = await s.run(capsys, shape, "p2")
        assert (back.stats.enabled, back.stats.failed) == (1, 0), back.stats
        assert s.rows()["p2"] == ["Person 2", "active"]
        for again_shape in ("whole", "key", "incremental"):
            again = await s.run(capsys, again_shape, "p2")
            assert (again.stats.written, again.stats.failed) == (0, 0), (again_shape, again.stats)
