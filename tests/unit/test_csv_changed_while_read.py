"""A CSV file another program writes in place while a run reads it (an export starting
over) fails the read: the rows read before it changed are not the file, and the rows
after them would be taken for absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import Transient
from schemas.connections import CsvConnection
from schemas.jobs import Endpoint
from services.providers.base import Layout
from services.providers.csv.provider import CsvProvider

ROWS = 5000
"""Enough rows that the file is read in many parts (not one buffer)."""


def rows(count: int) -> str:
    return "id,dept\n" + "".join(f"e{n:05},Sales department of the company\n" for n in range(count))


@pytest.mark.parametrize(
    "written", ["", "id,dept\n", rows(3)], ids=["emptied", "header only", "shorter"]
)
@pytest.mark.parametrize("incremental", [False, True], ids=["full", "incremental"])
async def test_a_file_written_in_place_while_it_is_read_fails_the_read(
    tmp_path: Path, written: str, incremental: bool
) -> None:
    path = tmp_path / "hr.csv"
    path.write_text(rows(ROWS))
    layout = Layout(keys=("id",), fields=("id", "dept"))
    connection = CsvConnection(id="hr", directory=str(tmp_path))
    source = CsvProvider(connection, Endpoint(connection="hr", file="hr.csv"), layout)
    await source.open(write=False)
    batches = source.read_changed(100, None, "id") if incremental else source.read(100)
    read = 0
    with pytest.raises(Transient, match=r"hr.csv: the file changed while it was read"):
        async for batch in batches:
            if read == 0:
                with path.open("r+") as f:  # as an export that starts over does
                    f.truncate(0)
                    f.write(written)
            read += len(batch)
    assert read < ROWS


async def test_a_file_replaced_with_other_columns_after_it_was_opened_fails_the_read(
    tmp_path: Path,
) -> None:
    # The run checked the job's fields against the header it opened; the file put in its
    # place names other columns, and its records would lack `dept`: every value cleared.
    path = tmp_path / "hr.csv"
    path.write_text(rows(3))
    layout = Layout(keys=("id",), fields=("id", "dept"))
    connection = CsvConnection(id="hr", directory=str(tmp_path))
    source = CsvProvider(connection, Endpoint(connection="hr", file="hr.csv"), layout)
    await source.open(write=False)
    assert source.source_fields() == ["id", "dept"]
    (tmp_path / "new.csv").write_text("id,department\ne00000,Sales\n")
    (tmp_path / "new.csv").replace(path)
    with pytest.raises(Transient, match=r"hr.csv: the header changed since the file was opened"):
        [batch async for batch in source.read(100)]


@pytest.mark.parametrize("as_rows", [False, True], ids=["records", "rows"])
async def test_a_file_written_in_place_that_breaks_the_row_being_read_is_tried_again(
    tmp_path: Path, as_rows: bool
) -> None:
    # The export writes longer rows: the read goes on mid-row of the new text, a row of
    # another width — an error of the change, not of the file (which reads well), so
    # the run is tried again rather than failed for a row no line of the file holds.
    path = tmp_path / "hr.csv"
    path.write_text(rows(ROWS))
    layout = Layout(keys=("id",), fields=("id", "dept"))
    connection = CsvConnection(id="hr", directory=str(tmp_path))
    source = CsvProvider(connection, Endpoint(connection="hr", file="hr.csv"), layout)
    await source.open(write=False)
    longer = "id,dept\n" + "".join(f'e{n:05},"Sales, a department"\n' for n in range(ROWS))
    read = 0
    with pytest.raises(Transient, match=r"hr.csv: the file changed while it was read"):
        async for batch in source.read_rows(100) if as_rows else source.read(100):
            if read == 0:
                with path.open("r+") as f:
                    f.truncate(0)
                    f.write(longer)
            read += len(batch)
    assert read < ROWS


@pytest.mark.parametrize("as_rows", [False, True], ids=["records", "rows"])
async def test_a_broken_row_of_a_file_replaced_while_it_is_read_is_tried_again(
    tmp_path: Path, as_rows: bool
) -> None:
    # The row at line 4001 is broken in the file the read holds open; the file put in
    # its place meanwhile reads well: its line cannot be named from the path — the new
    # file is read by the run tried again.
    path = tmp_path / "hr.csv"
    path.write_text(rows(4000) + "e99999,Sales,extra\n")
    layout = Layout(keys=("id",), fields=("id", "dept"))
    connection = CsvConnection(id="hr", directory=str(tmp_path))
    source = CsvProvider(connection, Endpoint(connection="hr", file="hr.csv"), layout)
    await source.open(write=False)
    read = 0
    with pytest.raises(Transient, match=r"hr.csv: the file changed while it was read"):
        async for batch in source.read_rows(100) if as_rows else source.read(100):
            if read == 0:
                (tmp_path / "new.csv").write_text(rows(ROWS))
                (tmp_path / "new.csv").replace(path)
            read += len(batch)
    assert read < ROWS
