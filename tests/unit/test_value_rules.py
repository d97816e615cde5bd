"""Values no destination can keep (engine/writable.py): several values for a field that
holds one, and control characters. The record fails alone, naming the field and the
values, in every planning shape (one type, several types, the lean planner)."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import msgspec
import pytest
from msgspec.structs import replace

from core.checks.job import check_job
from core.engine.context import MappingContext
from core.engine.mapping import compile_mapping
from core.engine.transforms import RecordFailed
from core.errors import BadInput
from schemas.connections import Connection, CsvConnection, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping
from schemas.values import Record, Value, as_text
from services.common.definitions import load_job
from services.providers import FACTS
from services.providers.base import Provider
from services.runner.planning import Sides, plan_job

CONTEXT = MappingContext(job_id="dir", run_id="r1", now=datetime(2026, 1, 2, tzinfo=UTC))
TWO_CN: Record = {"uid": "alice", "cn": ["Alice Smith", "Alice S."]}


def mapped(record: Record, *fields: FieldMap) -> Record:
    return compile_mapping(ObjectMapping(keys=["uid"], fields=list(fields)), CONTEXT).map(record)


def failure(record: Record, *fields: FieldMap) -> RecordFailed:
    with pytest.raises(RecordFailed) as caught:
        mapped(record, *fields)
    return caught.value


# --- several values, one field ---------------------------------------------------------------


def test_several_values_for_a_field_without_delimiter_fail_naming_them() -> None:
    error = failure(TWO_CN, FieldMap(to="uid"), FieldMap(to="cn"))
    assert error.field == "cn"
    assert str(error) == (
        'cn: 2 values ("Alice Smith", "Alice S.") for a field without a delimiter, which '
        'holds one; add a delimiter to keep them all, or if_several = "first" to take the first'
    )


def test_the_message_names_the_source_field_and_cuts_a_long_list_short() -> None:
    record: Record = {"uid": "a", "mail": [f"a{n}@example.org" for n in range(5)]}
    error = failure(record, FieldMap(to="uid"), FieldMap(to="email", from_="mail"))
    assert str(error).startswith(
        'email: 5 values of mail ("a0@example.org", "a1@example.org", "a2@example.org" '
        "and 2 more) for a field without a delimiter"
    )


def test_if_several_first_writes_the_first_value_after_the_transformations() -> None:
    first = FieldMap(to="cn", if_several="first", transform="upper")
    assert mapped(TWO_CN, FieldMap(to="uid"), first) == {"uid": "alice", "cn": "ALICE SMITH"}
    # Values that become empty are no values: one left is one value, nothing fails.
    emptied = FieldMap(
        to="cn", if_several="first", transform={"map": {"Alice Smith": ""}, "keep_unmapped": True}
    )
    assert mapped(TWO_CN, FieldMap(to="uid"), emptied)["cn"] == ["Alice S."]
    assert mapped(TWO_CN, FieldMap(to="uid"), replace(emptied, if_several="fail"))["cn"] == [
        "Alice S."
    ]


def test_one_value_and_a_multi_valued_field_pass() -> None:
    assert mapped({"uid": "a", "cn": ["Ann", ""]}, FieldMap(to="uid"), FieldMap(to="cn")) == {
        "uid": "a",
        "cn": ["Ann"],
    }
    multi = FieldMap(to="cn", delimiter="|")
    assert mapped(TWO_CN, FieldMap(to="uid"), multi)["cn"] == ["Alice Smith", "Alice S."]


def test_a_transformation_making_several_values_for_a_single_field_fails() -> None:
    split = FieldMap(to="groups", transform={"split": ","})
    error = failure({"uid": "a", "groups": "staff,vpn"}, FieldMap(to="uid"), split)
    assert str(error).startswith('groups: 2 values ("staff", "vpn")')


def test_a_key_with_several_values_fails_the_record() -> None:
    error = failure({"uid": ["a", "b"]}, FieldMap(to="uid"))
    assert (error.field, str(error).split(" for ")[0]) == ("uid", 'uid: 2 values ("a", "b")')


def test_a_job_copying_every_field_keeps_lists() -> None:
    every = compile_mapping(ObjectMapping(keys=["uid"]), CONTEXT)
    assert every.map(TWO_CN) == TWO_CN


# --- control characters ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Ali\x00ce", 'a control character (NUL, U+0000) at character 4 of "Ali\\u0000ce"'),
        ("\x1b[31mred", 'a control character (U+001B) at character 1 of "\\u001b[31mred"'),
        ("back\x08space", 'a control character (U+0008) at character 5 of "back\\bspace"'),
        ("x" * 30 + "\x00", 'a control character (NUL, U+0000) at character 31 of …"xxxxx'),
    ],
)
def test_a_control_character_fails_the_record_naming_the_field_and_where(
    text: str, shown: str
) -> None:
    error = failure({"uid": "a", "cn": text}, FieldMap(to="uid"), FieldMap(to="cn"))
    assert error.field == "cn"
    assert str(error).startswith(f"cn: {shown}")
    assert "remove it at the source, or with transform = { replace = " in str(error)


@pytest.mark.parametrize("text", ["tab\there", "two\nlines", "crlf\r\n", "é ü\u00a0€", "\x7f"])
def test_tab_line_ends_and_other_text_pass(text: str) -> None:
    assert mapped({"uid": "a", "cn": text}, FieldMap(to="uid"), FieldMap(to="cn"))["cn"] == text


@pytest.mark.parametrize(
    ("fields", "record"),
    [
        pytest.param([FieldMap(to="g", delimiter="|")], {"g": "staff|v\x00pn"}, id="split-text"),
        pytest.param([FieldMap(to="g", delimiter="|")], {"g": ["staff", "v\x00pn"]}, id="list"),
        pytest.param([FieldMap(to="g", if_several="first")], {"g": ["v\x00pn", "x"]}, id="first"),
        pytest.param([FieldMap(to="g", transform={"static": "v\x00pn"})], {}, id="transformed"),
        pytest.param([], {"g": ["staff", "v\x00pn"]}, id="copy-every-field"),
    ],
)
def test_every_value_written_is_checked(fields: list[FieldMap], record: Record) -> None:
    # Without field maps (the last case) the job copies every field.
    every = [FieldMap(to="uid"), *fields] if fields else []
    with pytest.raises(RecordFailed) as caught:
        compile_mapping(ObjectMapping(keys=["uid"], fields=every), CONTEXT).map(
            {"uid": "a", **record}
        )
    error = caught.value
    assert error.field == "g"
    assert 'NUL, U+0000) at character 2 of "v\\u0000pn"' in str(error)


def test_a_replace_written_as_the_message_says_removes_the_character(tmp_path: Path) -> None:
    job = load_job(write_job(tmp_path, '{ to = "cn", transform = { replace = "\\u0000" } }'))
    compiled = compile_mapping(job.objects[0], CONTEXT)
    assert compiled.map({"uid": "a", "cn": "Ali\x00ce"}) == {"uid": "a", "cn": "Alice"}


def test_the_documented_replaces_remove_the_characters() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "transformations.md"
    wanted = ('{ to = "surname", from = "last_name"', '{ to = "note", transform = { replace')
    lines = [line for line in doc.read_text().splitlines() if line.startswith(wanted)]
    fields = [msgspec.convert(tomllib.loads(f"f = {line}")["f"], FieldMap) for line in lines]
    assert [field.to for field in fields] == ["surname", "note"]
    record: Record = {"uid": "a", "last_name": "Smi\x00th", "note": "\x1b[1mbold\x00\tend\n"}
    assert mapped(record, FieldMap(to="uid"), *fields) == {
        "uid": "a",
        "surname": "Smith",
        "note": "[1mbold\tend\n",
    }


# --- the job file ------------------------------------------------------------------------


def write_job(folder: Path, field: str) -> Path:
    path = folder / "dir.toml"
    path.write_text(
        'id = "dir"\n'
        'source = { connection = "files", file = "people.csv" }\n'
        'destination = { connection = "db", table = "people" }\n'
        "[[objects]]\n"
        'keys = ["uid"]\n'
        f'fields = [{{ to = "uid" }}, {field}]\n'
    )
    return path


def test_if_several_with_a_delimiter_or_an_unknown_choice_is_refused(tmp_path: Path) -> None:
    connections: dict[str, Connection] = {
        "files": CsvConnection(id="files", directory=str(tmp_path)),
        "db": SqliteConnection(id="db", path=str(tmp_path / "db.sqlite")),
    }
    path = write_job(tmp_path, '{ to = "cn", delimiter = "|", if_several = "first" }')
    with pytest.raises(BadInput) as caught:
        check_job(load_job(path), connections, FACTS, origin="dir.toml")
    assert str(caught.value) == (
        "dir.toml: $.objects[0].fields[1].if_several: a field with a delimiter keeps every "
        "value: remove if_several or the delimiter"
    )
    with pytest.raises(BadInput) as caught:
        load_job(write_job(tmp_path, '{ to = "cn", if_several = "last" }'))
    assert "$.objects[0].fields[1].if_several" in str(caught.value)
    assert '"last"' in str(caught.value)


# --- in a plan, every shape ----------------------------------------------------------------


class Table:
    """A destination that stores a list in one column joined with ";" (as SQLite and CSV
    do for a field without a delimiter): what must never happen to a single value."""

    rereadable = False

    def __init__(self, records: list[Record]) -> None:
        self.records = records

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        yield self.records

    def canonical(self, record: Record) -> Record:
        joined: dict[str, Value] = {name: as_text(v, ";") for name, v in record.items()}
        return joined


class LeanTable(Table):
    rereadable = True  # no size_hint: the lean planner takes it


def side(cls: type[Table], records: list[Record]) -> Provider:
    return cast(Provider, cls(records))


PEOPLE: list[Record] = [
    {"uid": "alice", "cn": ["Alice Smith", "Alice S."]},
    {"uid": "bob", "cn": "Bob"},
    {"uid": "carol", "cn": "Ca\x00rol"},
]
GROUPS = ObjectMapping(type="group", keys=["gid"], fields=[FieldMap(to="gid")])
SHAPES = ["one type", "several types", "lean"]


def planned_as(shape: str, cn: FieldMap) -> tuple[Job, Sides]:
    """The job (users, and groups for "several types") and its sides, in that shape."""
    users = ObjectMapping(keys=["uid"], fields=[FieldMap(to="uid"), cn])
    objects = [users, GROUPS] if shape == "several types" else [users]
    side_x, side_y = Endpoint(connection="x"), Endpoint(connection="y")
    job = Job(id="dir", source=side_x, destination=side_y, objects=objects)
    kind = LeanTable if shape == "lean" else Table
    others = [(side(Table, [{"gid": "g1"}]), side(Table, []))] if len(objects) > 1 else []
    return job, Sides(side(kind, PEOPLE), side(kind, []), others)


@pytest.mark.parametrize("shape", SHAPES)
async def test_each_planning_shape_fails_those_records_and_plans_the_others(shape: str) -> None:
    planned = await plan_job(*planned_as(shape, FieldMap(to="cn")))
    errors = {error.key: (error.action, error.message) for error in planned.record_errors}
    assert sorted(errors) == ["alice", "carol"]
    assert errors["alice"] == (
        "map",
        'cn: 2 values ("Alice Smith", "Alice S.") for a field without a delimiter, which '
        'holds one; add a delimiter to keep them all, or if_several = "first" to take the first',
    )
    assert errors["carol"][1].startswith("cn: a control character (NUL, U+0000) at character 3")
    created = {c.key: c.set for c in planned.plan.changes if c.object_type == "user"}
    assert created == {"bob": {"uid": "bob", "cn": "Bob"}}  # never "Alice Smith;Alice S."


@pytest.mark.parametrize("shape", SHAPES)
async def test_each_planning_shape_writes_the_first_value_when_the_job_says_so(
    shape: str,
) -> None:
    planned = await plan_job(*planned_as(shape, FieldMap(to="cn", if_several="first")))
    created = {c.key: c.set for c in planned.plan.changes if c.object_type == "user"}
    assert created == {
        "alice": {"uid": "alice", "cn": "Alice Smith"},
        "bob": {"uid": "bob", "cn": "Bob"},
    }
    assert [error.key for error in planned.record_errors] == ["carol"]
