"""A reference value that differs in case alone from the one an object holds, where the
destination compares with case (a SQLite table): it names nothing, and the error names
that object's value and the option that matches it."""

from __future__ import annotations

from pathlib import Path

from schemas.connections import CsvConnection, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Resolve, Safety

from .test_scoped_reads import plan_between, table


async def test_a_manager_named_in_another_case_is_an_error_that_says_how_to_match_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "hr.csv").write_text("emp,boss\nada,\nbob,ADA\n")
    table(tmp_path / "dir.db", "people", ["id", "boss"], [("ada", None), ("bob", None)])
    boss = FieldMap(to="boss", resolve=Resolve(type="user", by="id"))
    the_job = Job(
        id="managers",
        source=Endpoint(connection="hr", file="hr.csv"),
        destination=Endpoint(connection="dir", table="people"),
        objects=[ObjectMapping(keys=["id"], fields=[FieldMap(to="id", from_="emp"), boss])],
        safety=Safety(max_percent=100),
    )
    hr = CsvConnection(id="hr", directory=str(tmp_path))
    directory = SqliteConnection(id="dir", path=str(tmp_path / "dir.db"))
    planned = await plan_between(hr, directory, the_job, None)
    assert [e.message for e in planned.record_errors] == [
        "boss: no user with id 'ADA' in the destination or this run (one has id 'ada': id is "
        'matched with case; case_insensitive = true on type "user" matches it without)'
    ]
    assert planned.plan.changes == []
