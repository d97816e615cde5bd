"""`idsync connection test` on files: what it finds, and what it says is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import Unreachable
from schemas.connections import CsvConnection, ExcelConnection, SqliteConnection
from services.providers import check_reachable


async def test_a_folder_is_described_and_a_missing_one_named(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("id\n")
    (tmp_path / "archive").mkdir()
    found = await check_reachable(CsvConnection(id="hr", directory=str(tmp_path)))
    assert found == f"folder {tmp_path} (writable) holds 1 files"
    with pytest.raises(Unreachable, match=f"hr: folder {tmp_path / 'gone'} does not exist"):
        await check_reachable(CsvConnection(id="hr", directory=str(tmp_path / "gone")))


async def test_a_database_is_described_and_a_wrong_path_named(tmp_path: Path) -> None:
    database = tmp_path / "people.db"
    new = await check_reachable(SqliteConnection(id="db", path=str(database)))
    assert new == f"database {database} does not exist yet; it is created on the first write"
    database.write_bytes(b"x" * 1234)
    found = await check_reachable(SqliteConnection(id="db", path=str(database)))
    assert found == f"database {database} (1,234 bytes, writable)"
    with pytest.raises(Unreachable, match="is a folder, not a database"):
        await check_reachable(SqliteConnection(id="db", path=str(tmp_path)))
    with pytest.raises(Unreachable, match=f"folder {tmp_path / 'gone'} does not exist"):
        await check_reachable(SqliteConnection(id="db", path=str(tmp_path / "gone" / "x.db")))


async def test_a_folder_of_workbooks_is_described_counting_its_workbooks(tmp_path: Path) -> None:
    (tmp_path / "people.xlsx").write_bytes(b"PK")
    (tmp_path / "notes.txt").write_text("x")
    found = await check_reachable(ExcelConnection(id="books", directory=str(tmp_path)))
    assert found == f"folder {tmp_path} (writable) holds 1 workbooks"
    with pytest.raises(Unreachable, match=f"books: folder {tmp_path / 'gone'} does not exist"):
        await check_reachable(ExcelConnection(id="books", directory=str(tmp_path / "gone")))
