"""A run's failed records, through every service over a real nats-server, CSV into SQLite:
every reason is kept with the run and shown (`idsync run show`, its `--json`, the mail),
and the statistics count each record once — failed if planning found an error in it or
any of its changes failed, else what its own change did — so that

    created + updated + deleted + disabled + moved + enabled + unchanged + skipped + failed

is the number of records the run considered: the source records read and the
destination-only objects it acted on."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.events import RunFinished
from schemas.plan import RunStats
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.settings import Settings

from .conftest import RunServices
from .ldap_helpers import define
from .mailbox import Mailbox, with_mail
from .test_notify import notifier_done
from .test_references_sqlite import JOB as MANAGERS_JOB
from .test_transforms_flow import idsync

CONNECTIONS = (
    '[hr]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ";"\n'
    '[db]\nprovider = "sqlite"\npath = "data/people.db"\n'
)
DEPARTMENTS = '{ map = { Research = "RES", Sales = "SAL" } }'
JOB = f"""id = "hr-people"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "db", table = "people" }}
notify = [{{ recipients = ["errors@example.org"], trigger = "errors" }}]
safety = {{ max_percent = 100 }}
[[objects]]
keys = ["employee_id"]
on_destination_only = "delete"
fields = [
  {{ to = "employee_id" }},
  {{ to = "name" }},
  {{ to = "mail" }},
  {{ to = "dept", from = "department", transform = {DEPARTMENTS} }},
  {{ to = "manager", from = "manager_mail", resolve = {{ type = "user", by = "mail" }} }},
]
"""
OUTCOMES = (
    "created",
    "updated",
    "deleted",
    "disabled",
    "moved",
    "enabled",
    "unchanged",
    "skipped",
    "failed",
)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    return with_mail(settings, mailbox)


def considered(stats: RunStats) -> int:
    """The records a run's statistics count, each in one outcome."""
    return sum(getattr(stats, name) for name in OUTCOMES)


def write(folder: Path, rows: list[dict[str, str]]) -> None:
    header = ["employee_id", "name", "mail", "department", "manager_mail"]
    with (folder / "data" / "people.csv").open("w", newline="") as out:
        table = csv.DictWriter(out, header, delimiter=";")
        table.writeheader()
        table.writerows({name: row.get(name, "") for name in header} for row in rows)


def person(number: int, **values: str) -> dict[str, str]:
    found = {
        "employee_id": f"E{number:03}",
        "name": f"Person {number}",
        "mail": f"p{number}@x.org",
        "department": "Research",
    }
    return found | values


async def run(session: Session, job_id: str) -> tuple[str, RunFinished]:
    run_id, end = await follow_run(session, job_id, None)
    assert isinstance(end, RunFinished), end
    return run_id, end


async def shown(settings: Settings, run_id: str, *more: str) -> str:
    done = await idsync(settings, "run", "show", run_id, *more)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_mapping_and_resolving_failures_are_shown_and_each_counts_once(
    tmp_path: Path, session: Session, services: RunServices, settings: Settings
) -> None:
    job = await define(session, tmp_path, CONNECTIONS, JOB)
    boss = person(10, mail="boss@x.org")
    rows = [person(n, manager_mail="boss@x.org") for n in range(1, 10)] + [boss]
    for n in (2, 3, 4):  # not in the department map
        rows[n - 1]["department"] = "Mars"
    for n in (5, 6):  # no such manager
        rows[n - 1]["manager_mail"] = "nobody@x.org"
    write(tmp_path, rows)
    async with services():
        run_id, end = await run(session, job)
        text = await shown(settings, run_id)
        listed = json.loads(await shown(settings, run_id, "--json"))
        with sqlite3.connect(tmp_path / "data" / "people.db") as db:
            written = dict(db.execute("SELECT employee_id, manager FROM people").fetchall())

        write(tmp_path, rows[:8] + rows[9:])  # E009 leaves the source: deleted
        _, again = await run(session, job)

    # Created: E001, E007, E008 (their manager written in the references phase) and the
    # boss; E005 and E006 are created without a manager, so they count as failed only.
    stats = end.stats
    assert (stats.read, stats.created, stats.failed) == (10, 5, 5)
    assert considered(stats) == stats.read
    reasons = sorted((e["action"], e["key"]) for e in listed["errors"])
    assert reasons == [
        ("map", "E002"),
        ("map", "E003"),
        ("map", "E004"),
        ("resolve", "E005"),
        ("resolve", "E006"),
    ]
    assert "record errors: 5" in text
    lines = [line for line in text.splitlines() if line.startswith("  error: ")]
    assert len(lines) == 5
    assert any('E003: dept: map has no entry for "Mars"' in line for line in lines)
    assert any("E006: manager: no user with mail 'nobody@x.org'" in line for line in lines)
    assert written == {
        "E001": "E010",
        "E005": None,
        "E006": None,
        "E007": "E010",
        "E008": "E010",
        "E009": "E010",
        "E010": None,
    }
    # Again: E005 and E006 still have no manager (failed, not also unchanged), E009 goes.
    stats = again.stats
    assert (stats.unchanged, stats.deleted, stats.failed) == (4, 1, 5)
    assert considered(stats) == stats.read + 1  # the destination-only object deleted


async def test_every_reason_is_kept_however_many_records_fail(
    tmp_path: Path,
    session: Session,
    services: RunServices,
    settings: Settings,
    mailbox: Mailbox,
) -> None:
    job = await define(session, tmp_path, CONNECTIONS, JOB)
    with sqlite3.connect(tmp_path / "data" / "people.db") as db:
        db.executescript(
            """
            CREATE TABLE people (
                employee_id TEXT, name TEXT CHECK (name NOT LIKE 'Bad%'), mail TEXT,
                dept TEXT, manager TEXT
            );
            CREATE UNIQUE INDEX people_key ON people (employee_id);
            """
        )
    rows = [person(n) for n in range(300)]
    for row in rows[:150]:  # fail planning
        row["department"] = "Mars"
    for row in rows[150:270]:  # fail when written: more than one event's worth of a batch
        row["name"] = f"Bad {row['name']}"
    write(tmp_path, rows)
    async with services():
        run_id, end = await run(session, job)
        await notifier_done(session)

    stats = end.stats
    assert (stats.read, stats.created, stats.failed) == (300, 30, 270)
    assert considered(stats) == stats.read
    (mail,) = mailbox.to("errors@example.org")
    body = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Errors (270):" in body
    errors = json.loads(await shown(settings, run_id, "--json"))["errors"]
    assert len(errors) == 270
    assert sorted(e["key"] for e in errors if e["action"] == "map") == [
        row["employee_id"] for row in rows[:150]
    ]
    assert sorted(e["key"] for e in errors if e["action"] == "create") == [
        row["employee_id"] for row in rows[150:270]
    ]
    text = await shown(settings, run_id)
    assert "record errors: 270, the first 50 below (--errors N)" in text
    assert text.count("\n  error: ") == 50
    everything = await shown(settings, run_id, "--errors", "1000")
    assert everything.count("\n  error: ") == 270


async def test_a_record_whose_create_or_reference_update_fails_counts_failed_once(
    tmp_path: Path, session: Session, services: RunServices, settings: Settings
) -> None:
    job = await define(session, tmp_path, CONNECTIONS, MANAGERS_JOB)
    with sqlite3.connect(tmp_path / "data" / "people.db") as db:
        db.executescript(
            """
            CREATE TABLE people (
                employee_id TEXT, name TEXT CHECK (name <> 'Ada'), manager TEXT, mail TEXT
            );
            CREATE UNIQUE INDEX people_key ON people (employee_id);
            CREATE TRIGGER dan_has_no_manager BEFORE UPDATE OF manager ON people
            WHEN NEW.employee_id = '4' BEGIN SELECT RAISE(ABORT, 'Dan has no manager'); END;
            """
        )
    with (tmp_path / "data" / "people.csv").open("w", newline="") as out:
        table = csv.writer(out, delimiter=";")
        table.writerow(["employee_id", "name", "mail", "manager_mail"])
        table.writerows(
            [
                # Their manager is created by the same run: each create has a follow-up
                # that writes the manager in the references phase.
                ("1", "Ada", "ada@x.org", "boss@x.org"),  # create and follow-up fail
                ("4", "Dan", "dan@x.org", "boss@x.org"),  # created; its follow-up fails
                ("5", "Cy", "cy@x.org", "boss@x.org"),
                ("3", "Boss", "boss@x.org", ""),
            ]
        )
    async with services():
        run_id, end = await run(session, job)
        listed = json.loads(await shown(settings, run_id, "--json"))

    reasons = sorted((e["key"], e["action"]) for e in listed["errors"])
    assert reasons == [("1", "create"), ("1", "update"), ("4", "update")]
    stats = end.stats
    assert (stats.created, stats.failed) == (2, 2)  # Cy and the boss; Ada and Dan
    assert considered(stats) == stats.read == 4
