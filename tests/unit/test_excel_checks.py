"""What `idsync job apply` says of a job with an Excel side, before anything is read."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from core.checks.job import check_job
from core.errors import BadInput
from schemas.connections import Connection, ExcelConnection, SqliteConnection
from schemas.jobs import Job
from services.providers import FACTS

CONNECTIONS: dict[str, Connection] = {
    "books": ExcelConnection(id="books", directory="/srv/books"),
    "db": SqliteConnection(id="db", path="/srv/db.sqlite"),
}


def job(destination: dict[str, Any], **objects: Any) -> Job:
    return msgspec.convert(
        {
            "id": "to-books",
            "source": {"connection": "db", "table": "people"},
            "destination": {"connection": "books", **destination},
            "objects": [{"keys": ["id"], "fields": [{"to": "id"}, {"to": "name"}], **objects}],
        },
        Job,
    )


def test_a_sheet_marks_disabled_rows_restores_them_and_cannot_move_them() -> None:
    marked = job(
        {"file": "people.xlsx", "mark": {"field": "status", "value": "left"}},
        on_destination_only="disable",
        restore=True,
        delete_after="30d",
    )
    check_job(marked, CONNECTIONS, FACTS)
    with pytest.raises(
        BadInput,
        match=r"\$\.objects\[0\]\.on_destination_only: destination "
        r"books \(excel\) cannot move; choose delete or disable or skip",
    ):
        check_job(
            job({"file": "people.xlsx"}, on_destination_only="move", move_to="x"),
            CONNECTIONS,
            FACTS,
        )


def test_what_a_workbook_side_cannot_say_is_refused_naming_each_field() -> None:
    side = {"file": "people.xls", "sheet": "Staff/2026", "header_row": 0, "query": "x = 1"}
    with pytest.raises(BadInput) as refused:
        check_job(job(side), CONNECTIONS, FACTS)
    assert str(refused.value).splitlines() == [
        'job "to-books": $.destination.file: an .xls workbook (the Excel 97-2003 format) is '
        "not read: save it as .xlsx",
        'job "to-books": $.destination.sheet: expected a sheet name without /, got "Staff/2026"',
        'job "to-books": $.destination.header_row: expected a row number from 1 to 1,048,575, '
        "got 0",
        'job "to-books": $.destination.query: a sheet has no query: every row is in scope '
        "(`where` filters)",
    ]
