"""A manager resolved in a SQLite destination, through every service: the key of the
person named, found among those there and those the same run creates."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run

from .conftest import RunServices
from .ldap_helpers import define
from .test_ldap_jobs import run

JOB = """id = "hr-managers"
source = { connection = "hr", file = "people.csv" }
destination = { connection = "db", table = "people" }
[[objects]]
keys = ["employee_id"]
fields = [
  { to = "employee_id" },
  { to = "name" },
  { to = "manager", from = "manager_mail", resolve = { type = "user", by = "mail" } },
  { to = "mail" },
]
"""


def write(folder: Path, rows: list[tuple[str, str, str, str]]) -> None:
    with (folder / "data" / "people.csv").open("w", newline="") as out:
        table = csv.writer(out, delimiter=";")
        table.writerow(["employee_id", "name", "mail", "manager_mail"])
        table.writerows(rows)


async def test_a_manager_is_written_as_the_key_of_the_person_named(
    tmp_path: Path, session: Session, services: RunServices
) -> None:
    connections = (
        '[hr]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ";"\n'
        '[db]\nprovider = "sqlite"\npath = "data/people.db"\n'
    )
    job = await define(session, tmp_path, connections, JOB)
    write(
        tmp_path,
        [
            ("1", "Ada", "ada@x.org", "boss@x.org"),  # the boss comes later in the file
            ("2", "Bob", "bob@x.org", "nobody@x.org"),  # no such person: reported
            ("3", "Boss", "boss@x.org", ""),
        ],
    )
    async with services():
        first = await run(session, job)
        # Bob is written without his manager: one failed record, not also a created one.
        assert (first.stats.created, first.stats.failed) == (2, 1)
        with sqlite3.connect(tmp_path / "data" / "people.db") as db:
            found = dict(db.execute("SELECT employee_id, manager FROM people").fetchall())
        assert found == {"1": "3", "2": None, "3": None}
        again = await run(session, job)
        assert (again.stats.written, again.stats.unchanged, again.stats.failed) == (0, 2, 1)


LEAVING = JOB.replace(
    'keys = ["employee_id"]',
    'keys = ["employee_id"]\n'
    'leavers = { when = { field = "status", equals = "left" }, action = "delete" }',
).replace('  { to = "mail" },', '  { to = "mail" },\n  { to = "status" },')


async def test_a_run_scoped_to_a_leaving_managers_key_clears_the_manager_of_the_others(
    tmp_path: Path, session: Session, services: RunServices
) -> None:
    """The manager leaves, and a run asks for the manager's key alone: the row is
    deleted, and those it managed name no manager — as a whole run leaves them — rather
    than the key of a row that is no more."""
    connections = (
        '[hr]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ";"\n'
        '[db]\nprovider = "sqlite"\npath = "data/people.db"\n'
    )
    job = await define(session, tmp_path, connections, LEAVING)
    header = ["employee_id", "name", "mail", "manager_mail", "status"]

    def people(boss: str) -> None:
        with (tmp_path / "data" / "people.csv").open("w", newline="") as out:
            table = csv.writer(out, delimiter=";")
            table.writerow(header)
            table.writerow(["1", "Ada", "ada@x.org", "boss@x.org", "here"])
            table.writerow(["3", "Boss", "boss@x.org", "", boss])

    people("here")
    async with services():
        assert (await run(session, job)).stats.created == 2
        people("left")
        _, end = await follow_run(session, job, ["3"])
        assert isinstance(end, RunFinished), end
        assert end.stats.deleted == 1, end.stats
        with sqlite3.connect(tmp_path / "data" / "people.db") as db:
            found = dict(db.execute("SELECT employee_id, manager FROM people").fetchall())
        assert found == {"1": None}
