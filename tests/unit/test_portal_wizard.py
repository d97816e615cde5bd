"""The job wizard's form and the job it makes: the same Job the TOML would be; an edit
keeps every setting the form does not show; a wrong field is named."""

from __future__ import annotations

import tomllib

import msgspec
import pytest

from core.errors import BadInput
from schemas.connections import Connection, CsvConnection, SqliteConnection
from schemas.jobs import Job
from services.portal.wizard import form_of, job_of

CONNECTIONS: dict[str, Connection] = {
    "hr": CsvConnection(id="hr", directory="/data/hr", delimiter=";"),
    "db": SqliteConnection(id="db", path="/data/directory.db"),
}

TOML = """\
id = "hr-to-db"
title = "HR to the database"
owners = ["alice"]
source = { connection = "hr", file = "people.csv", delimiter = ";" }
destination = { connection = "db", table = "people" }
batch_size = 200
safety = { max_count = 5 }

[[objects]]
keys = ["employee_id"]
on_destination_only = "disable"
fields = [
  { to = "employee_id" },
  { to = "given_name", from = "first_name", transform = "trim" },
  { to = "groups", delimiter = "|" },
]
"""


def job() -> Job:
    return msgspec.convert(tomllib.loads(TOML), Job)


def test_a_new_job_from_the_form_is_the_job_its_toml_says() -> None:
    form = {
        "id": "hr-to-db",
        "title": "HR to the database",
        "owners": "alice",
        "source_connection": "hr",
        "source_place": "people.csv",
        "destination_connection": "db",
        "destination_place": "people",
        "keys": "employee_id",
        "on_destination_only": "disable",
        "to_0": "employee_id",
        "to_1": "given_name",
        "from_1": "first_name",
        "every": "1h",
    }
    made = job_of(form, CONNECTIONS)
    unsaid = job_of({k: v for k, v in form.items() if k != "on_destination_only"}, CONNECTIONS)
    assert unsaid.objects[0].on_destination_only == "skip", "the TOML's default: never delete"
    assert made.source.file == "people.csv" and made.destination.table == "people"
    assert made.objects[0].on_destination_only == "disable"
    assert [(f.to, f.from_) for f in made.objects[0].fields] == [
        ("employee_id", None),
        ("given_name", "first_name"),
    ]
    assert made.schedule is not None and made.schedule.every == "1h"


def test_an_edit_keeps_what_the_form_does_not_show() -> None:
    edited = job()
    form = form_of(edited, CONNECTIONS)
    assert form["source_place"] == "people.csv" and form["from_1"] == "first_name"
    assert job_of(form, CONNECTIONS, edited) == edited, "nothing changed: the same job"
    form["title"] = "HR, every day"
    changed = job_of(form, CONNECTIONS, edited)
    assert changed.title == "HR, every day"
    assert changed.batch_size == 200 and changed.safety.max_count == 5
    assert changed.source.delimiter == ";"
    assert changed.objects[0].fields[1].transform == "trim"
    assert changed.objects[0].fields[2].delimiter == "|"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"source_connection": "nowhere"}, "source: choose one of the connections"),
        ({"from_5": "mail"}, "mapping row 6: which destination field does 'mail' go to?"),
        ({"on_both": "merge"}, "on_both: one of update, skip"),
        ({"keys": ""}, None),
    ],
)
def test_a_wrong_field_is_named(change: dict[str, str], named: str | None) -> None:
    form = {**form_of(job(), CONNECTIONS), **change}
    if named is None:
        job_of(form, CONNECTIONS)  # no keys decodes; the workflow's checks refuse it
        return
    with pytest.raises(BadInput, match=named.replace("?", r"\?")):
        job_of(form, CONNECTIONS)
