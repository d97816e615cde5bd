"""The compiled mapping: transformations per field, generated passwords left out, and a
record that fails alone — in the engine and in a plan."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from core.checks.job import check_job
from core.engine.context import MappingContext
from core.engine.mapping import (
    check_mapping,
    compile_mapping,
    managed_fields,
    map_record,
)
from core.engine.transforms import RecordFailed
from core.errors import BadInput
from schemas.connections import Connection, CsvConnection, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping
from schemas.values import Record
from services.common.definitions import load_job
from services.providers import FACTS
from services.providers.base import Provider
from services.runner.planning import Sides, plan_job

CONTEXT = MappingContext(job_id="hr", run_id="r1", now=datetime(2026, 1, 2, tzinfo=UTC))
FIELDS = [
    FieldMap(to="uid", from_="login", transform=["trim", "lower"]),
    FieldMap(to="cn", transform={"join": ["first_name", "last_name"]}),
    FieldMap(to="born", from_="birth", transform={"date": "%d.%m.%Y", "to": "%Y-%m-%d"}),
    FieldMap(to="groups", delimiter="|", transform={"replace": "^", "with": "g-", "regex": True}),
    FieldMap(to="tags", delimiter=",", transform={"static": "new,,staff"}),
    FieldMap(to="password", transform={"password": 12, "avoid": ["uid"]}),
    FieldMap(to="mail"),
]
MAPPING = ObjectMapping(keys=["uid"], fields=FIELDS)
ADA: Record = {
    "login": " ADA ",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "birth": "10.12.1815",
    "groups": "staff|vpn",
    "mail": "ada@example.org",
}


def test_a_record_is_mapped_with_every_transformation() -> None:
    compiled = compile_mapping(MAPPING, CONTEXT)
    before = copy.deepcopy(ADA)
    assert compiled.map(ADA) == {
        "uid": "ada",
        "cn": "Ada Lovelace",
        "born": "1815-12-10",
        "groups": ["g-staff", "g-vpn"],  # split first, then each item transformed
        "tags": ["new", "staff"],  # a static text on a multi-valued field is split too
        "mail": "ada@example.org",
    }
    assert before == ADA


def test_a_generated_password_is_never_mapped_and_never_managed() -> None:
    compiled = compile_mapping(MAPPING, CONTEXT)
    assert list(compiled.generated) == ["password"]
    assert compiled.generated["password"].length == 12
    assert "password" not in compiled.map(ADA)
    # Managed fields are the ones a plan compares: a password is neither set nor cleared.
    assert "password" not in managed_fields(MAPPING, [])


def test_one_record_that_fails_does_not_stop_the_others() -> None:
    compiled = compile_mapping(MAPPING, CONTEXT)
    records = [dict(ADA, login=f"u{n}", birth="10.12.1815") for n in range(5)]
    records[2]["birth"] = "1815-12-10"
    mapped, failed = [], []
    for record in records:
        try:
            mapped.append(compiled.map(record))
        except RecordFailed as error:
            failed.append((compiled.key_of(record), str(error), error.field))
    assert [m["uid"] for m in mapped] == ["u0", "u1", "u3", "u4"]
    assert failed == [("u2", 'born: date "1815-12-10" does not match "%d.%m.%Y"', "born")]


def test_without_transformations_it_maps_as_map_record() -> None:
    plain = ObjectMapping(
        keys=["uid"], fields=[FieldMap(to="uid"), FieldMap(to="g", delimiter="|")]
    )
    record: Record = {"uid": "a", "g": "x||y", "other": "z"}
    assert compile_mapping(plain, CONTEXT).map(record) == map_record(record, plain)
    every = ObjectMapping(keys=["uid"])
    assert compile_mapping(every, CONTEXT).map({"uid": "a", "e": ""}) == {"uid": "a"}
    with pytest.raises(ValueError, match="compile_mapping"):
        map_record(record, MAPPING)


def test_every_problem_is_listed_with_its_path() -> None:
    bad = ObjectMapping(
        keys=["uid"],
        fields=[
            FieldMap(to="uid", transform="password"),
            FieldMap(to="a", transform={"left": "x"}),
            FieldMap(to="b", from_="x", transform="password"),
            FieldMap(to="c", delimiter="|", transform={"password": 8}),
            FieldMap(to="d", transform=["password"]),
        ],
    )
    assert check_mapping(bad, "$.objects[0]", "hr") == [
        ("$.objects[0].fields[0].transform", 'a key field ("uid") cannot be a generated password'),
        ("$.objects[0].fields[1].transform", 'left needs a whole number length, got "x"'),
        (
            "$.objects[0].fields[2].transform",
            "a generated password reads no source field: remove from",
        ),
        ("$.objects[0].fields[3].transform", "a generated password is one value: remove delimiter"),
    ]
    with pytest.raises(BadInput) as caught:
        compile_mapping(bad, CONTEXT, "$.objects[0]")
    assert str(caught.value).count("\n") == 3


# --- in a plan ---------------------------------------------------------------------------


class Side:
    """Just enough of a provider for plan_job: records to read, values kept as they are."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        yield self.records

    def canonical(self, record: Record) -> Record:
        return record


def job(mapping: ObjectMapping) -> Job:
    side = Endpoint(connection="x")
    return Job(id="hr", source=side, destination=side, objects=[mapping])


def sides(source: list[Record], destination: list[Record]) -> Sides:
    return Sides(cast(Provider, Side(source)), cast(Provider, Side(destination)))


async def test_a_plan_reports_records_that_fail_and_plans_the_rest() -> None:
    source = [dict(ADA, login=f"u{n}") for n in range(4)]
    source[1]["birth"] = "yesterday"
    source[3]["birth"] = "31.02.2020"
    planned = await plan_job(job(MAPPING), sides(source, [{"uid": "u0", "cn": "Old"}]))
    assert planned.source_records == 4  # read, failed ones included
    assert [(e.key, e.action) for e in planned.record_errors] == [("u1", "map"), ("u3", "map")]
    assert 'born: date "yesterday" does not match' in planned.record_errors[0].message
    assert planned.plan.counts.create == 1 and planned.plan.counts.update == 1
    # No change holds a password, nor clears one.
    assert all("password" not in c.set and "password" not in c.clear for c in planned.plan.changes)


async def test_a_run_scoped_to_keys_reports_only_its_own_failures() -> None:
    source: list[dict[str, Any]] = [dict(ADA, login=f"u{n}", birth="?") for n in range(3)]
    planned = await plan_job(job(MAPPING), sides(source, []), keys=["u2"])
    assert [e.key for e in planned.record_errors] == ["u2"]


SCOPED = [
    # (the mapping's keys, the failing record's key fields, the key asked for)
    (["uid"], {"login": "sales / u2"}, "sales / u2"),  # the separator inside one key
    (["uid", "cn"], {"login": "a / b", "first_name": "x / y"}, "a / b"),  # in the first of two
    (["uid"], {"login": " U2 "}, "u2"),  # the key asked for as the mapping makes it
]


@pytest.mark.parametrize(("keys", "fields", "asked"), SCOPED)
async def test_a_run_scoped_to_a_key_reports_its_failure_as_a_whole_run_does(
    keys: list[str], fields: Record, asked: str
) -> None:
    failing = dict(ADA, birth="?", **fields)
    source = [failing, dict(ADA, login="u3", birth="?")]
    mapping = ObjectMapping(keys=keys, fields=FIELDS)
    existing: list[Record] = [compile_mapping(mapping, CONTEXT).map_keys(failing)]
    whole = await plan_job(job(mapping), sides(source, existing))
    scoped = await plan_job(job(mapping), sides(source, existing), keys=[asked])
    reported = whole.record_errors[0]
    assert reported.key.startswith(str(fields["login"]))
    assert scoped.record_errors == [reported]
    assert scoped.plan.changes == []  # its object held: nothing done to it


async def test_the_context_fills_the_variables() -> None:
    mapping = ObjectMapping(
        keys=["uid"],
        fields=[FieldMap(to="uid"), FieldMap(to="note", transform={"static": "%RUN_ID%"})],
    )
    planned = await plan_job(job(mapping), sides([{"uid": "a"}], []), context=CONTEXT)
    assert planned.plan.changes[0].set == {"uid": "a", "note": "r1"}


def test_a_job_with_a_bad_transformation_is_refused_when_applied(tmp_path: Path) -> None:
    (tmp_path / "people.toml").write_text(
        'id = "hr"\n'
        'source = { connection = "files", file = "people.csv" }\n'
        'destination = { connection = "db", table = "people" }\n'
        "[[objects]]\n"
        'keys = ["uid"]\n'
        "fields = [\n"
        '  { to = "uid" },\n'
        '  { to = "cn", transform = { join = ["first", "last"], separator = " " } },\n'
        '  { to = "initials", from = "first", transform = ["upper", { left = "x" }] },\n'
        "]\n"
    )
    connections: dict[str, Connection] = {
        "files": CsvConnection(id="files", directory=str(tmp_path)),
        "db": SqliteConnection(id="db", path=str(tmp_path / "db.sqlite")),
    }
    job = load_job(tmp_path / "people.toml")
    with pytest.raises(BadInput) as caught:
        check_job(job, connections, FACTS, origin="people.toml")
    where = "people.toml: $.objects[0].fields[2].transform[1]"
    assert str(caught.value) == f'{where}: left needs a whole number length, got "x"'


class Header(Side):
    """A source that knows its fields, as a CSV header or a table does."""

    def __init__(self, records: list[Record], fields: list[str]) -> None:
        super().__init__(records)
        self.fields = fields

    def source_fields(self) -> list[str]:
        return self.fields


async def test_a_field_the_source_does_not_have_fails_planning_naming_it_and_those_it_has() -> None:
    mapping = ObjectMapping(
        keys=["uid"],
        fields=[
            FieldMap(to="uid", from_="login"),
            FieldMap(to="mail", from_="e_mail"),
            FieldMap(to="cn", transform={"join": ["first", "surname"]}),
            FieldMap(to="note", transform={"static": "from HR"}),  # reads no field
        ],
    )
    source = Header([{"login": "ada", "first": "Ada", "last": "L"}], ["login", "first", "last"])
    with pytest.raises(BadInput) as refused:
        await plan_job(job(mapping), Sides(cast(Provider, source), cast(Provider, Side([]))))
    assert str(refused.value) == (
        "$.objects[0].fields[1].from: the source has no field 'e_mail'; "
        "$.objects[0].fields[2].transform: the source has no field 'surname' "
        "(its fields: login, first, last)"
    )


async def test_a_record_that_fails_holds_its_object_in_the_plan() -> None:
    mapping = ObjectMapping(keys=["uid"], on_destination_only="delete", fields=MAPPING.fields)
    source = [dict(ADA, login="u0"), dict(ADA, login="u1", birth="yesterday")]
    destination: list[Record] = [{"uid": "u0", "cn": "Old"}, {"uid": "u1"}, {"uid": "u2"}]
    planned = await plan_job(job(mapping), sides(source, destination))
    assert [(c.action, c.key) for c in planned.plan.changes if c.action == "delete"] == [
        ("delete", "u2")
    ], "u1 failed: it is not absent"
    assert [e.key for e in planned.record_errors] == ["u1"]


async def test_a_blank_row_is_no_record_whatever_a_default_gives_it() -> None:
    # A sheet's or an export's blank row (",,"): a field's default gives it a value, but
    # it is nobody, so it must not keep the absent objects from being deleted.
    mapping = ObjectMapping(
        keys=["uid"],
        fields=[
            FieldMap(to="uid"),
            FieldMap(to="dept", transform={"default": "Unassigned"}),
        ],
        on_destination_only="delete",
    )
    source: list[Record] = [{"uid": "a", "dept": "IT"}, {"uid": "", "dept": ""}]
    destination: list[Record] = [{"uid": "a", "dept": "IT"}, {"uid": "b", "dept": "IT"}]
    planned = await plan_job(job(mapping), sides(source, destination))
    assert [(c.action, c.key) for c in planned.plan.changes] == [("delete", "b")]
    assert not any("values but an empty key" in w for w in planned.plan.warnings)
    # A row with something of its own in it is somebody: it still holds the deletes.
    source[1]["dept"] = "Sales"
    planned = await plan_job(job(mapping), sides(source, destination))
    assert planned.plan.changes == []
    assert "values but an empty key" in planned.plan.warnings[0]


class Rereadable(Side):
    rereadable = True


@pytest.mark.parametrize("lean", [False, True])
async def test_a_record_that_failed_with_an_empty_key_deletes_no_one(lean: bool) -> None:
    # The export lost Bo's number: his login, made from it, fails his record. He is
    # one of the objects the source seems to lack, so none of them is deleted, as for a
    # record mapped with an empty key — and the plan says so first.
    mapping = ObjectMapping(
        keys=["employee_id"],
        on_destination_only="delete",
        fields=[
            FieldMap(to="employee_id", from_="number"),
            FieldMap(to="uid", transform={"format": "u{number}"}),
            FieldMap(to="name"),
        ],
    )
    source: list[Record] = [{"number": "1", "name": "Ann"}, {"number": "", "name": "Bo"}]
    objects: list[Record] = [
        {"employee_id": "1", "uid": "u1", "name": "Ann"},
        {"employee_id": "2", "uid": "u2", "name": "Bo"},
        {"employee_id": "3", "uid": "u3", "name": "Cy"},
    ]
    destination = Rereadable(objects) if lean else Side(objects)
    planned = await plan_job(
        job(mapping), Sides(cast(Provider, Side(source)), cast(Provider, destination))
    )
    assert [e.message for e in planned.record_errors] == [
        "uid: format needs {number}, which has no value"
        ' (a record without a key: {"name":"Bo","number":""})'
    ]
    assert [c.action for c in planned.plan.changes] == []
    assert planned.plan.leading == 1
    assert planned.plan.warnings[0].startswith(
        "1 source record failed without a key that can be read (empty, "
    )


async def test_a_record_that_failed_without_a_key_is_shown_but_its_secrets() -> None:
    # no key to find it by in a file of thousands of rows: its values say which it is
    mapping = ObjectMapping(
        keys=["uid"],
        fields=[FieldMap(to="uid", from_="login"), FieldMap(to="cn", transform={"format": "{x}"})],
    )
    source: list[Record] = [{"login": " ", "name": "Bo", "password": "hunter2"}]
    planned = await plan_job(job(mapping), sides(source, []))
    assert [e.message for e in planned.record_errors] == [
        'cn: format needs {x}, which has no value (a record without a key: {"login":" ",'
        '"name":"Bo"})'
    ]
