"""A create applied again (its batch redelivered after a crash) leaves its create-only
fields — a generated password — as the first apply wrote them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from schemas.connections import SqliteConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from services.providers.base import Layout
from services.providers.sqlite.provider import SqliteProvider


def create(password: str, mail: str) -> Change:
    return Change(
        action="create",
        key="u1",
        match={"id": "u1"},
        set={"id": "u1", "mail": mail, "password": password},
        create_only=("password",),
    )


@pytest.mark.parametrize("indexed", [True, False], ids=["unique-key", "no-unique-index"])
@pytest.mark.parametrize("batch", [1, 2], ids=["alone", "with-a-neighbour"])
async def test_a_create_applied_again_keeps_its_first_password(
    tmp_path: Path, batch: int, indexed: bool
) -> None:
    db = tmp_path / "d.db"
    if not indexed:  # a table of the user's own: rows are looked up, not upserted
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE t (id TEXT, mail TEXT, password TEXT)")
    layout = Layout(keys=("id",), fields=("id", "mail", "password"))
    provider = SqliteProvider(
        SqliteConnection(id="d", path=str(db)), Endpoint(connection="d", table="t"), layout
    )
    await provider.open(write=True)
    other = Change(action="create", key="u2", match={"id": "u2"}, set={"id": "u2"})
    await provider.apply([create("first-Secret1", "a@x")])
    again = [create("second-Secret2", "b@x"), *([other] if batch == 2 else [])]
    outcomes = await provider.apply(again)
    await provider.close()
    assert [o.error for o in outcomes] == [None] * len(again)
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT mail, password FROM t WHERE id = 'u1'").fetchone()
    assert row == ("b@x", "first-Secret1"), "other fields follow; the password stays"
