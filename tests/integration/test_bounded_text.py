"""Text columns of a bounded length (varchar(n)) given values longer than n by spaces:
PostgreSQL and MySQL store them cut to n (the spaces past n dropped, with no error), so
a run compares its records with what the column gives back — and a run after the one
that wrote them finds nothing to do, rather than update them again every run."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from schemas.jobs import Endpoint
from services.runner.planning.reading import Reading
from tests.postgresql_server import Server as Postgresql

from .test_changed_lookups_providers import (
    CHANGED,
    KEYED,
    SINCE,
    Sql,
    job,
    my_module,
    pg_module,
    source,
    sql,
)
from .test_scoped_reads import applied, plan_between

__all__ = ["my_module", "pg_module", "sql"]  # fixtures

BOUNDED = "id VARCHAR(4), name VARCHAR(4)"


def create(sql: Sql, folder: Path, name: str, columns: str, rows: str = "('e1', 'Old')") -> None:
    made = f"CREATE TABLE {name} ({columns})"
    filled = f"INSERT INTO {name} VALUES {rows}"
    if sql.kind == "sqlite":
        db = sqlite3.connect(folder / "dir.db")
        db.execute(made)
        db.execute(filled)
        db.commit()
        db.close()
    elif isinstance(sql.server, Postgresql):
        sql.server.psql(f"{made}; {filled}")
    else:
        assert sql.server is not None
        sql.server.sql(f"{made}; {filled}")


@pytest.mark.parametrize("incremental", [False, True], ids=["full", "incremental"])
async def test_values_longer_than_a_bounded_column_by_spaces_are_unchanged_once_written(
    sql: Sql, tmp_path: Path, incremental: bool
) -> None:
    people = [
        ("e1", "Ada      ", CHANGED),  # updated: its name cut to "Ada "
        ("e2      ", "Bob", CHANGED),  # created: its key cut to "e2  "
        ("e3", "Alan    ", CHANGED),  # created: its name cut to "Alan"
    ]
    name = f"bounded_{sql.kind}_{'changed' if incremental else 'all'}"
    await written_then_unchanged(sql, tmp_path, name, BOUNDED, people, incremental)


async def written_then_unchanged(
    sql: Sql,
    folder: Path,
    name: str,
    columns: str,
    people: Sequence[tuple[str | None, str, int]],
    incremental: bool,
) -> None:
    """A table `name` of `columns` holding e1, the source `people` (e1, e2, e3) planned
    into it, whole or incrementally: e1 updated, e2 and e3 created, each written without
    an error; then planned again, nothing to do."""
    create(sql, folder, name, columns)
    hr = source(folder, people)
    the_job = job(KEYED, Endpoint(connection="dir", table=name))
    reading = Reading(incremental=True, since=SINCE) if incremental else None
    first = await plan_between(hr, sql.connection(), the_job, None, reading)
    assert sorted(f"{c.action} {c.key.strip()}" for c in first.plan.changes) == [
        "create e2",
        "create e3",
        "update e1",
    ]
    outcomes, _ = await applied(hr, sql.connection(), the_job, first.plan.changes)
    assert [outcome.error for outcome in outcomes] == [None, None, None]
    again = await plan_between(hr, sql.connection(), the_job, None, reading)
    assert [f"{c.action} {c.key} {c.set}" for c in again.plan.changes] == []


@pytest.mark.parametrize("bounded", ["VARCHAR(4)", "CHAR(4)"])
@pytest.mark.parametrize("unique", [False, True], ids=["no index", "a unique key"])
async def test_a_key_longer_than_its_column_is_refused_not_cut_onto_another_object(
    sql: Sql, tmp_path: Path, unique: bool, bounded: str
) -> None:
    """A new record's key longer than the key column: its create fails, naming it — cast
    to the column's type, it was cut to the key of another object ("e1-w"), which the
    create then overwrote (or a second object of that key was made); and a value too long
    for its column fails the record rather than being stored cut ("Alex")."""
    name = f"long_{sql.kind}_{'unique' if unique else 'plain'}_{bounded[0].lower()}"
    key = f"id {bounded}{' PRIMARY KEY' if unique else ''}"
    create(sql, tmp_path, name, f"{key}, name {bounded}", "('e1', 'Old'), ('e1-w', 'Old')")
    people = [("e1", "Alexander", CHANGED), ("e1-with-a-long-key", "Bob", CHANGED)]
    hr = source(tmp_path, people)
    the_job = job(KEYED, Endpoint(connection="dir", table=name))
    first = await plan_between(hr, sql.connection(), the_job, None)
    assert sorted(f"{c.action} {c.key.strip()}" for c in first.plan.changes) == [
        "create e1-with-a-long-key",
        "update e1",
    ]
    outcomes, held = await applied(hr, sql.connection(), the_job, first.plan.changes)
    done = zip(first.plan.changes, outcomes, strict=True)
    failed = sorted(change.key.strip() for change, outcome in done if outcome.error)
    stored = sorted((str(r["id"]).strip(), str(r["name"]).strip()) for r in held)
    if sql.kind == "sqlite":  # no length: both stored as they are
        assert failed == []
        return
    assert failed == ["e1", "e1-with-a-long-key"]
    assert stored == [("e1", "Old"), ("e1-w", "Old")]


async def test_a_value_longer_than_a_domain_over_a_bounded_text_is_refused(
    pg_module: Postgresql, tmp_path: Path
) -> None:
    """A column of a domain over varchar(4): "Alexander" is refused as the domain's type
    refuses it (cast to the domain, it was cut to "Alex" without a word), and a value its
    check refuses is refused still."""
    sql = Sql("postgresql", tmp_path, pg_module)
    pg_module.psql("CREATE DOMAIN short_text AS varchar(4) CHECK (VALUE <> 'Bad')")
    create(sql, tmp_path, "domained", "id text, name short_text")
    people = [("e1", "Alexander", CHANGED), ("e2", "Bad", CHANGED), ("e3", "Ok", CHANGED)]
    hr = source(tmp_path, people)
    the_job = job(KEYED, Endpoint(connection="dir", table="domained"))
    planned = await plan_between(hr, sql.connection(), the_job, None)
    outcomes, held = await applied(hr, sql.connection(), the_job, planned.plan.changes)
    stored = sorted((r["id"], r["name"]) for r in held)
    done = zip(planned.plan.changes, outcomes, strict=True)
    failed = sorted(change.key for change, outcome in done if outcome.error)
    assert failed == ["e1", "e2"]
    assert stored == [("e1", "Old"), ("e3", "Ok")]
