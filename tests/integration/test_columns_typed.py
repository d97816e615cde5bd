"""A first run's creates sent as columns into a PostgreSQL or MariaDB table (made by the
first write, of text columns, or of typed ones) hold, cell for cell, what the same creates
hold applied one at a time (staged, never straight), with the same outcomes: numbers with
a scale, booleans, dates, timestamps, UUIDs, JSON, binary data, several values (an array,
or delimited text), NULL and empty text in a column that refuses NULL, text with tabs,
newlines, backslashes, `\\N`, a NUL byte and 200,000 characters (PostgreSQL refuses the
one, a text column MariaDB makes the other: that create fails alone), quotes, characters
beyond the BMP, and a field the table lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Binary, Value
from schemas.work import Creates
from services.providers.base import AppliesColumns, Layout
from tests.sql_servers import SqlProvider, opened, sql_connection

FIELDS = ("amount", "active", "born", "at", "uid", "doc", "raw", "tags", "note", "nn", "added")
LAYOUT = Layout(keys=("id",), fields=("id", *FIELDS), multi_valued={"tags": "|"})
TABLES = {
    ("postgresql", "text"): "id text PRIMARY KEY, amount text, active text, born text, at text,"
    " uid text, doc text, raw bytea, tags text, note text, nn text NOT NULL DEFAULT ''",
    ("postgresql", "typed"): "id text PRIMARY KEY, amount numeric(10,2), active boolean,"
    " born date, at timestamptz, uid uuid, doc jsonb, raw bytea, tags text[], note text,"
    " nn text NOT NULL DEFAULT ''",
    ("mysql", "text"): "id varchar(64) PRIMARY KEY, amount text, active text, born text,"
    " at text, uid text, doc text, raw blob, tags text, note mediumtext, nn text NOT NULL",
    ("mysql", "typed"): "id varchar(64) PRIMARY KEY, amount decimal(10,2), active boolean,"
    " born date, at datetime(6), uid uuid, doc json, raw blob, tags text, note mediumtext,"
    " nn text NOT NULL DEFAULT ''",
}
"""Each table but the one the first write makes (`added`: a field none of them has)."""
DUMPS = {
    "postgresql": "SELECT * FROM {table} ORDER BY id",
    "mysql": "SELECT id, amount, active, born, at, uid, doc, HEX(raw), tags, HEX(note), nn,"
    " added FROM {table} ORDER BY id",
}
NOTES = [
    *("tab\there", "two\nlines\r\n", "back\\slash \\N \\.", "", "emoji 😀 𝄞"),
    *("x" * 200_000, "nul\x00byte", "quote ' \" `", "\\", "é" * 10),
]


def creates(count: int) -> list[Change]:
    made = []
    for n in range(count):
        key = f"k{n:03d}"
        values: dict[str, Value] = {
            "amount": ["12.34", "0", "-0.5", "", "1e2"][n % 5],
            "active": ["true", "false", "1", "0", ""][n % 5],
            "born": ["2020-01-02", "", "1999-12-31"][n % 3],
            "at": ["2020-01-02T03:04:05+02:00", "", "2020-01-02 03:04:05.123456Z"][n % 3],
            "uid": ["123e4567-e89b-12d3-a456-426614174000", ""][n % 2],
            "doc": ['{"a": 1, "b": [1, 2]}', "", '"x"'][n % 3],
            "raw": [Binary(b"\x00\xff\\\t"), Binary(b"plain")][n % 2],
            "tags": [["a", "b|c", ""], [], ["x\ty", "😀"], ["solo"]][n % 4],
            "note": NOTES[n % len(NOTES)],
            "nn": ["", "v"][n % 2],
            "added": ["m", ""][n % 2],
        }
        made.append(Change(action="create", key=key, match={"id": key}, set={"id": key, **values}))
    return made


@pytest.mark.parametrize("table", ["made", "text", "typed"])
@pytest.mark.parametrize("provider", ["postgresql", "mysql"])
async def test_creates_sent_as_columns_hold_what_creates_applied_one_at_a_time_hold(
    provider: SqlProvider, table: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server = request.getfixturevalue("pg_database" if provider == "postgresql" else "my_database")
    run_sql = server.psql if provider == "postgresql" else server.sql
    connection = sql_connection(provider, server, tmp_path, "db")
    batch = creates(20)
    fields = tuple(sorted(batch[0].set))  # as the plan's hash orders them
    found = []
    for name in ("staged", "columns"):
        if table != "made":
            run_sql(f"CREATE TABLE {name} ({TABLES[provider, table]})")
        side = await opened(connection, Endpoint(connection="db", table=name), LAYOUT, write=True)
        try:
            if name == "staged":
                outcomes = [outcome for change in batch for outcome in await side.apply([change])]
            else:
                assert isinstance(side, AppliesColumns)
                columns = [[change.set[field] for change in batch] for field in fields]
                sent = Creates(key_field="id", fields=fields, columns=columns)
                outcomes = await side.apply_columns(sent)
        finally:
            await side.close()
        errors = [o.error.replace(name, "T") if o.error else None for o in outcomes]
        found.append((errors, run_sql(DUMPS[provider].format(table=name))))
    staged, sent_as_columns = found
    refused = [n for n, error in enumerate(staged[0]) if error is not None]
    # PostgreSQL's text holds no NUL; the text column MariaDB makes, 65,535 bytes.
    expected = [6, 16] if provider == "postgresql" else [5, 15] if table == "made" else []
    assert refused == expected, staged[0]
    assert sent_as_columns == staged
