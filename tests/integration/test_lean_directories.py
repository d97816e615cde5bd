"""A first run from a real slapd into an empty SQLite table (none yet, or one whose every row
the job's scope leaves out), in every shape a job of one type may take, whole or
incremental, its entries' keys once or one twice, plans exactly as the planner holding
every record in memory plans it: the same changes (with the source values the history
keeps of a transformed field), the same counts, hash, warnings, record errors and
refusals (naming both entries of a key twice). Where the lean planner serves the run (a
plain copy: `lean_enough`), it is the one asked; a job that keeps source values for the
history is planned in memory, so that a directory of a few entries keeps them
(docs/history.md)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.errors import IdsyncError
from schemas.connections import LdapConnection, SqliteConnection
from schemas.jobs import Job
from services.runner.planning import PlannedRun, entry, low_memory, spill
from services.runner.planning.reading import Reading
from services.runner.planning.sides import Sides, open_pair
from tests.ldap_server import Slapd

from .ldap_helpers import admin, connection

ENTRIES: dict[str, dict[str, Any]] = {
    "p1": {"mail": "p1@x.org", "departmentNumber": "Sales", "description": ["a", "b"]},
    "p2": {"mail": "p2@x.org", "departmentNumber": "Legal", "employeeNumber": "2"},
    "p3": {"mail": "P3@x.org", "employeeNumber": "3", "title": "soon"},
    "p4": {"mail": "p4@x.org", "employeeNumber": "2", "title": "01.02.1990"},
    "P5": {"mail": "p5@x.org", "employeeNumber": "5", "jpegPhoto": b"\xff\xd8\x00 binary"},
    "p6": {"mail": "p6@x.org", "employeeNumber": "6", "description": ["x|y", "z"]},
}
"""Entries with one key in upper case, a value several times, a binary value, an
employee number two entries share, a title that is no date."""

DEPARTMENT = {"to": "dept", "from": "departmentNumber", "transform": {"map": {"Sales": "S"}}}
BORN = {"to": "born", "from": "title", "transform": {"date": "%d.%m.%Y", "to": "%Y"}}
SECRET = {**BORN, "to": "password_year"}
COPIED = [{"to": "uid"}, {"to": "mail"}, {"to": "description", "delimiter": "|"}]

SHAPES: dict[str, dict[str, Any]] = {
    "copied": {},
    "binary": {"fields": [{"to": "uid"}, {"to": "jpegPhoto"}]},
    "keys compared without case": {"case_insensitive": True},
    "two key fields": {"keys": ["uid", "sn"], "fields": [*COPIED, {"to": "sn"}]},
    "a field no entry holds": {"fields": [*COPIED, {"to": "car", "from": "carLicense"}]},
    "creates skipped": {"on_source_only": "skip"},
    "leavers": {"leavers": {"when": {"field": "title", "equals": "soon"}}},
    "a key two entries hold": {
        "keys": ["emp"],
        "fields": [{"to": "emp", "from": "employeeNumber"}],
    },
    "transformed": {"fields": [*COPIED, DEPARTMENT]},
    "a record failing its transformation": {"fields": [*COPIED, BORN]},
    "a key a failed record holds too": {
        "keys": ["emp"],
        "fields": [{"to": "emp", "from": "employeeNumber"}, BORN],
    },
    # A secret keeps no source value: planned lean, with a record that fails.
    "a secret failing its transformation": {"fields": [*COPIED, SECRET]},
    "a key a record failing lean holds too": {
        "keys": ["emp"],
        "fields": [{"to": "emp", "from": "employeeNumber"}, SECRET],
    },
}
LEAN = {"copied", "binary", "keys compared without case", "two key fields"}
LEAN |= {"a field no entry holds", "creates skipped", "leavers", "a key two entries hold"}
LEAN |= {"a secret failing its transformation", "a key a record failing lean holds too"}


TWICE = {"P1": "dup1@x.org", "p4": "dup4@x.org"}
"""Entries of another OU whose keys the others hold: "p4", and "P1" in another case."""


def add_entries(slapd: Slapd, base: str, twice: bool) -> None:
    with admin(slapd) as conn:
        if twice:
            assert conn.add(f"ou=sub,{base}", ["organizationalUnit"], {"ou": "sub"})
            for uid, mail in TWICE.items():
                attributes = {"uid": uid, "sn": "S", "cn": uid, "mail": mail}
                assert conn.add(f"uid={uid},ou=sub,{base}", ["inetOrgPerson"], attributes)
        for uid, values in ENTRIES.items():
            attributes = {"uid": uid, "sn": "S", "cn": uid, **values}
            assert conn.add(f"uid={uid},{base}", ["inetOrgPerson"], attributes), conn.result


async def planned(
    job: Job,
    connections: tuple[LdapConnection, SqliteConnection],
    reading: Reading,
    monkeypatch: pytest.MonkeyPatch,
    *,
    in_memory: bool,
) -> tuple[PlannedRun | IdsyncError, bool]:
    """The job's plan (or refusal) as planning chooses, or in memory; whether it was lean."""
    chosen: list[bool] = []

    async def choice(*args: Any) -> bool:
        chosen.append(not in_memory and await low_memory.lean_enough(*args))
        return chosen[-1]

    monkeypatch.setattr(entry, "lean_enough", choice)
    source, destination = open_pair(*connections, job, 0)
    await source.open(write=False)
    await destination.open(write=True)
    try:
        return await entry.plan_job(
            job, Sides(source, destination, [], connections), reading=reading
        ), chosen == [True]
    except IdsyncError as refused:
        return refused, chosen == [True]
    finally:
        await source.close()
        await destination.close()


OUT_OF_SCOPE = """
CREATE TABLE people (uid TEXT, sn TEXT, emp TEXT, mail TEXT, description TEXT, dept TEXT,
                     born TEXT, password_year TEXT, car TEXT, jpegPhoto BLOB, scope TEXT);
INSERT INTO people (uid, sn, emp, mail, scope) VALUES ('p2', 'S', '2', 'old@x.org', 'other');
INSERT INTO people (uid, sn, emp, mail, scope) VALUES ('x9', 'S', '9', 'x9@x.org', 'other');
"""
"""A table whose every row the job's scope leaves out (`scope IS NULL`): one of them holds
a key an entry has."""


@pytest.mark.parametrize("table", ["none", "rows-out-of-scope"])
@pytest.mark.parametrize("twice", [False, True], ids=["keys-once", "a-key-twice"])
@pytest.mark.parametrize("incremental", [False, True], ids=["whole", "incremental"])
@pytest.mark.parametrize("shape", list(SHAPES))
async def test_a_first_run_from_a_directory_plans_as_in_memory(
    shape: str,
    incremental: bool,
    twice: bool,
    table: str,
    slapd: Slapd,
    ldap_base: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_entries(slapd, ldap_base, twice)
    monkeypatch.setattr(spill, "RUN_SIZE", 2)  # creates on disk in several runs
    mapping: dict[str, Any] = {
        "keys": ["uid"],
        "on_destination_only": "delete",
        "fields": COPIED,
        **SHAPES[shape],
    }
    spec: dict[str, Any] = {
        "id": "dir-to-db",
        "source": {
            "connection": "dir",
            "container": ldap_base,
            "object_classes": ["inetOrgPerson"],
        },
        "destination": {"connection": "db", "table": "people"},
        "objects": [mapping],
    }
    if table == "rows-out-of-scope":
        with sqlite3.connect(tmp_path / "people.db") as db:
            db.executescript(OUT_OF_SCOPE)
        spec["destination"]["query"] = "scope IS NULL"
    # The first incremental run of a job with no watermark yet reads every entry.
    reading = Reading(incremental=True) if incremental else Reading()
    if incremental:
        spec["changes"] = {"field": "entryCSN"}
    job = msgspec.convert(spec, Job)
    sides = (
        connection(tmp_path, slapd.url, id="dir"),
        SqliteConnection(id="db", path=str(tmp_path / "people.db")),
    )

    chosen, lean = await planned(job, sides, reading, monkeypatch, in_memory=False)
    held, _ = await planned(job, sides, reading, monkeypatch, in_memory=True)
    assert lean == (shape in LEAN)
    if isinstance(held, IdsyncError):  # the refusal names both entries, as in memory
        assert type(chosen) is type(held) and str(chosen) == str(held)
        assert twice or mapping["keys"] == ["emp"], held  # employee number 2, twice
        return
    assert not twice
    assert isinstance(chosen, PlannedRun), chosen
    assert list(chosen.plan.changes) == list(held.plan.changes)
    assert chosen.plan.hash == held.plan.hash
    assert chosen.plan.counts == held.plan.counts
    assert chosen.plan.warnings == held.plan.warnings
    assert chosen.record_errors == held.record_errors
    assert (chosen.types, chosen.incremental) == (held.types, held.incremental)
    if "failing" in shape:  # the record whose title is no date fails, planned neither way
        assert [error.key for error in chosen.record_errors] == ["p3"]
        assert "p3" not in {change.key for change in chosen.plan.changes}
    if shape == "transformed":  # `idsync history why` tells the value it was made from
        [p1] = [change for change in chosen.plan.changes if change.key == "p1"]
        assert p1.sources == {"dept": 'departmentNumber="Sales"'}
