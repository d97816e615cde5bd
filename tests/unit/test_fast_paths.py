"""The quick ways of reading and comparing records give exactly what the plain ways give.

Rows become records a batch at a time (`records_from_rows`), a job that copies its fields
maps a record holding text in one pass (mapping.py `_shape_copies`), a SQLite destination
tells at once that it keeps a batch of mapped records as they are (`canonical_as_is`), an
update compares the fields without a policy in one step before looking field by field,
a large plan's plain creates are encoded without the planner's copies (spill.py
`quick_creates`), and its batches of plain creates are sent as columns (`as_columns`,
schemas/work.py `Creates`): for any rows and any job, the records (their fields in the
same order), the plans (changes, counts, hash, warnings) and the creates (their place in
the plan and their bytes) are those of the per-cell, per-field and planner's ways, and a
batch sent as columns gives the plan's changes byte for byte; so are the mapped records
(their fields in the same order) or the field that fails them."""

from __future__ import annotations

import atexit
import copy
import functools
import shutil
import sqlite3
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast
from unittest import mock

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from core.engine import managed_fields, match_key, plan
from core.engine.context import MappingContext
from core.engine.digests import DigestIndex
from core.engine.keys import DuplicateKey
from core.engine.lifecycle import LEAVER_FIELD, Lifecycle
from core.engine.mapping import _shape, _shape_copies, all_printable, compile_mapping
from core.engine.plan import Plan, encoded_for_hash
from core.engine.planner import Planner
from core.engine.transforms import RecordFailed
from core.errors import BadInput
from schemas import values
from schemas.connections import MysqlConnection, PostgresqlConnection, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, ObjectMapping
from schemas.plan import Change, PlanCounts
from schemas.values import (
    Binary,
    Record,
    Value,
    columns_from_records,
    record_from_cells,
    records_from_columns,
    records_from_rows,
)
from schemas.work import Creates, WorkBatch, decode_batch, decode_columns, encode
from services.providers import open_provider
from services.providers.base import Layout
from services.providers.mysql import values as my_values
from services.providers.mysql.provider import MysqlProvider
from services.providers.postgresql import values as pg_values
from services.providers.postgresql.provider import PostgresqlProvider
from services.providers.sql.reading import SqlReading
from services.providers.sqlite.read import SqliteReading
from services.runner.planning.low_memory import _plain_create, _plain_keys
from services.runner.planning.source import SourceMapper
from services.runner.planning.spill import (
    Spill,
    as_columns,
    decoded,
    order_of,
    quick_batch,
    quick_columns,
    quick_creates,
    settle,
)
from services.runner.plans import MAX_BATCH_BYTES, Batched
from tests.unit.test_plan_properties import FIELDS, JOSE, KEY_VALUES, jobs

NAMES = ["employee_id", "mail", "groups", "number", "Note"]
cells = st.one_of(
    st.none(),
    st.sampled_from(["", "x", "X", " x ", "42", "042", "4.20", "-1", "a|b", "|", "a||b", "|a|"]),
    st.text(alphabet="ab|;é ", max_size=6),
)
rows = st.lists(st.lists(cells, min_size=len(NAMES), max_size=len(NAMES)), max_size=12)
delimiters = st.lists(
    st.sampled_from([None, None, "|", ";"]), min_size=len(NAMES), max_size=len(NAMES)
)


@given(rows, delimiters)
def test_rows_read_a_batch_at_a_time_are_the_records_read_cell_by_cell(
    drawn: list[list[str | None]], split: list[str | None]
) -> None:
    one_by_one = [record_from_cells(NAMES, row, split) for row in drawn]
    batched = records_from_rows(NAMES, drawn, split)
    assert batched == one_by_one
    assert [list(record) for record in batched] == [list(record) for record in one_by_one]


@contextmanager
def compared_field_by_field() -> Iterator[None]:
    """Planners that read every key through `match_key` and look at every compared field
    in turn, as before the quick ways."""
    made = Planner.__init__

    def slow(
        planner: Planner,
        mapping: ObjectMapping,
        managed: tuple[str, ...],
        folds: Callable[[str], bool] | None = None,
        refuses: Callable[[Change], str | None] | None = None,
    ) -> None:
        made(planner, mapping, managed, folds, refuses)
        planner.plain, planner.with_policy = (), planner.compared
        planner.single = None  # every key through match_key

    with mock.patch.object(Planner, "__init__", slow):
        yield


@given(jobs)
def test_the_quick_keys_and_comparison_plan_as_the_slow_ones(
    job: tuple[ObjectMapping, list[Record], list[Record], bool],
) -> None:
    mapping, source, destination, absence = job
    managed = managed_fields(mapping, ["uid", "ou", *FIELDS])
    quick = plan(source, destination, mapping, managed, act_on_absence=absence)
    with compared_field_by_field():
        slow = plan(source, destination, mapping, managed, act_on_absence=absence)
    assert quick == slow
    assert quick.hash == slow.hash


def test_the_field_by_field_planner_is_the_one_compared() -> None:
    """The slow planner of the test above does compare each field (else it proves nothing)."""
    mapping = ObjectMapping(keys=["uid"])
    with compared_field_by_field():
        planner = Planner(mapping, ["uid", "mail"])
    assert planner.plain == () and planner.with_policy == ("uid", "mail")
    assert planner.single is None
    updated = plan([{"uid": "a", "mail": "new"}], [{"uid": "a", "mail": "old"}], mapping, ["mail"])
    assert [c.set for c in updated.changes] == [{"mail": "new"}]


odd_texts = st.sampled_from(
    ["", "x", "X", " x ", "é", "a=b", "uid=a,ou=x", "a\x00b", "a\x01", "a / b", "\x02"]
)
odd_values: st.SearchStrategy[Value] = st.one_of(
    odd_texts,
    st.lists(odd_texts, max_size=3),
    st.builds(Binary, st.sampled_from([b"", b"\x00", b"\xff"])),
)
usual_texts = st.sampled_from(["x", "X", " x ", "é", "a / b", "a=b"])
creates = st.one_of(
    st.fixed_dictionaries(  # anything
        {"uid": st.one_of(odd_texts, odd_texts, st.lists(odd_texts, max_size=2)), "ou": odd_texts},
        optional={
            "mail": odd_values,
            "groups": odd_values,
            "extra": odd_values,
            "@container": odd_texts,
        },
    ),
    st.fixed_dictionaries(  # what a plain job maps, mostly
        {"uid": usual_texts},
        optional={
            "ou": usual_texts,
            "mail": st.one_of(usual_texts, odd_values),
            "groups": st.lists(usual_texts, min_size=1, max_size=3),
        },
    ),
)
quick_mappings = st.builds(
    lambda keys, case, kind, container, skip, written: ObjectMapping(
        keys=keys,
        case_insensitive=case,
        type=kind,
        container=container,
        on_source_only="skip" if skip else "create",
        fields=[FieldMap(to=field) for field in written],
    ),
    st.sampled_from([["uid"], ["ou", "uid"]]),
    st.booleans(),
    st.sampled_from(["user", "container", "a\x00b"]),
    st.sampled_from([None, "ou=People,dc=example,dc=org"]),
    st.booleans(),
    st.one_of(
        st.just(["uid", "ou", "mail", "groups"]),
        st.lists(st.sampled_from(["uid", "ou", "mail", "groups"]), unique=True),
    ),
)


@settings(max_examples=300)
@given(quick_mappings, st.lists(creates, max_size=6))
def test_a_create_planned_the_quick_way_is_the_planners(
    mapping: ObjectMapping, records: list[Record]
) -> None:
    managed = managed_fields(mapping, ())
    quick = quick_creates(Planner(mapping, managed))
    if quick is None:  # it serves mappings that create, of a type whose name it can place
        assert mapping.on_source_only == "skip" or "\x00" in mapping.type
        return
    for record in records:
        key = match_key(record, mapping.keys, mapping.case_insensitive)
        if key is None:
            continue  # never handed to a spill
        planner = Planner(mapping, managed)
        planner.on_source_only(key, record)
        assert planner.counts.create == len(planner.ranked) == 1
        ranked, match, change = planner.ranked[0]
        entry = quick(key, dict(record))
        if entry is not None:
            assert entry == (order_of(ranked, match), encoded_for_hash(change))


def test_the_quick_creates_serve_the_usual_records() -> None:
    """The test above compares something: records of a plain job take the quick way, and
    those it leaves to the planner are the unusual ones."""
    mapping = ObjectMapping(keys=["uid"], fields=[FieldMap(to="uid"), FieldMap(to="groups")])
    quick = quick_creates(Planner(mapping, ("uid", "groups")))
    assert quick is not None
    assert quick("a", {"uid": "a", "groups": ["x", "y"]}) is not None
    assert quick("a", {"uid": "a", "groups": ["x", ""]}) is None  # the planner drops ""
    assert quick("a", {"uid": "a", "mail": "m"}) is None  # a field the job does not write
    assert quick("uid=a", {"uid": "uid=a"}) is None  # a DN's depth orders it


mapped_values: st.SearchStrategy[Value | None] = st.one_of(
    st.none(),
    st.sampled_from(["", "x", "é", "a|b", "|", "a||b", "\x07", "a\tb", "\u00a0", " "]),
    st.lists(st.sampled_from(["", "x", "y|z", "\x07", " "]), max_size=3),
    st.builds(Binary, st.sampled_from([b"", b"\x00"])),
)
copying_fields = st.lists(
    st.builds(
        FieldMap,
        to=st.sampled_from(["uid", "mail", "groups", "note"]),
        from_=st.sampled_from([None, "login", "Note"]),
        delimiter=st.sampled_from([None, None, "|", "||"]),
        if_several=st.sampled_from(["fail", "first"]),
    ),
    min_size=1,
    max_size=5,
)
source_fields = st.sampled_from(["uid", "mail", "groups", "note", "login", "Note"])
source_records = st.one_of(
    st.dictionaries(source_fields, mapped_values),  # anything
    st.dictionaries(  # what sources mostly hold
        source_fields,
        st.one_of(
            st.sampled_from(["x", "é", "a|b", "a||b"]),
            st.lists(st.sampled_from(["x", "y", "a|b"]), min_size=1, max_size=3),
        ),
    ),
)
CHECKING = MappingContext.checking("j")


def mapped(record: Record, mapping: ObjectMapping, *, field_by_field: bool) -> Record | str:
    """The record `CompiledMapping.map` gives (or `_shape`), or why it fails."""
    compiled = compile_mapping(mapping, CHECKING)
    try:
        if field_by_field:
            return _shape(record, compiled._fields)
        return compiled.map(record)
    except RecordFailed as error:
        return f"{type(error).__name__}: {error}"


@settings(max_examples=500)
@given(copying_fields, source_records)
def test_a_record_of_a_job_copying_its_fields_maps_as_field_by_field(
    fields: list[FieldMap], record: Record
) -> None:
    mapping = ObjectMapping(keys=["uid"], fields=fields)
    quick = mapped(record, mapping, field_by_field=False)
    slow = mapped(record, mapping, field_by_field=True)
    assert quick == slow
    if isinstance(quick, dict) and isinstance(slow, dict):
        assert list(quick) == list(slow)


def test_the_usual_records_are_copied_the_quick_way() -> None:
    """The test above compares something: text and lists of text take the quick way."""
    fields = [FieldMap(to="uid"), FieldMap(to="mail"), FieldMap(to="groups", delimiter="|")]
    compiled = compile_mapping(ObjectMapping(keys=["uid"], fields=fields), CHECKING)
    assert compiled._copies is not None
    record: Record = {"uid": "a", "groups": ["x", "y"]}
    assert _shape_copies(record, compiled._copies) == {"uid": "a", "groups": ["x", "y"]}
    assert _shape_copies({"uid": "a", "mail": "\x07"}, compiled._copies) == {}


full_cells = st.one_of(
    st.sampled_from(["x", "X", " x ", "42", "a|b", "|", "||", "a||b", "|a|", ";", "a;b"]),
    st.text(alphabet="ab|;é ", min_size=1, max_size=6),
)
full_rows = st.lists(st.lists(full_cells, min_size=len(NAMES), max_size=len(NAMES)), max_size=12)


@given(full_rows, delimiters, st.lists(st.integers(min_value=0, max_value=11), max_size=2))
def test_full_rows_read_a_batch_at_a_time_are_the_records_read_cell_by_cell(
    drawn: list[list[str | None]], split: list[str | None], emptied: list[int]
) -> None:
    """Rows whose every cell holds text take a quicker way (`_full_rows`): the same
    records, delimiters doubled, first or last included; a batch with one empty cell or
    None goes the usual way, with the same records again."""
    for at in emptied:  # a batch of full rows but one
        if at < len(drawn):
            drawn[at][at % len(NAMES)] = "" if at % 2 else None
    one_by_one = [record_from_cells(NAMES, row, split) for row in drawn]
    batched = records_from_rows(NAMES, drawn, split)
    assert batched == one_by_one
    assert [list(record) for record in batched] == [list(record) for record in one_by_one]


def test_full_rows_take_the_quick_way() -> None:
    """The test above compares something: a batch of full rows is built by `_full_rows`."""
    with mock.patch("schemas.values._full_rows", wraps=values._full_rows) as quick:
        records = records_from_rows(["id", "groups"], [["1", "a|b"], ["2", "|c"]], [None, "|"])
    assert quick.call_count == 1
    assert records == [{"id": "1", "groups": ["a", "b"]}, {"id": "2", "groups": ["c"]}]


def every_absent(
    planner: Planner, found: dict[str, Record], wanted: dict[str, Record], gone: set[str]
) -> list[tuple[str, Record]]:
    return [(k, r) for k, r in found.items() if k not in wanted and k not in gone]


@contextmanager
def indexed_one_by_one() -> Iterator[None]:
    """Planners that index every record through `key_of`, give every record found on
    both sides to `on_both`, compare every field in turn and look at every object found
    for absent ones, as before the quick ways."""
    with (
        compared_field_by_field(),
        mock.patch.object(Planner, "quick_keys", lambda planner, records: None),
        mock.patch.object(Planner, "equal_is_unchanged", lambda planner: False),
        mock.patch.object(Planner, "absent", every_absent),
    ):
        yield


@settings(max_examples=500)
@given(
    jobs,
    st.lists(st.booleans(), max_size=8),
    st.lists(st.sampled_from(KEY_VALUES), max_size=2),
    st.booleans(),
    st.booleans(),
)
def test_records_indexed_at_once_plan_as_one_by_one(
    job: tuple[ObjectMapping, list[Record], list[Record], bool],
    back: list[bool],
    absent: list[str],
    restore: bool,
    again: bool,
) -> None:
    """Keys read a batch at a time, equal records counted unchanged at once and no
    absent object looked for where every object found is in the source: the plan of the
    planner that looks at each record, for any records — a re-run's (`again`: the
    destination the source's own records, and a few others) or not —, with objects coming
    back (`back`: disabled or moved for absence before) or not."""
    mapping, source, destination, act = job
    mapping = msgspec.structs.replace(mapping, restore=restore)
    if again:
        destination = [*copy.deepcopy(source), *destination[:2]]
    managed = managed_fields(mapping, ["uid", "ou", *FIELDS])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    returning = [r for r, came in zip(source, back, strict=False) if came]
    others: list[Record] = [{"uid": k} for k in absent]
    keys = [match_key(r, ["uid"], mapping.case_insensitive) for r in returning + others]
    since = {key: now for key in keys if key is not None}
    lifecycle = Lifecycle(absent_since=since, now=now) if back or absent else None
    copies = copy.deepcopy((source, destination))
    quick = plan(source, destination, mapping, managed, act_on_absence=act, lifecycle=lifecycle)
    with indexed_one_by_one():
        slow = plan(*copies, mapping, managed, act_on_absence=act, lifecycle=lifecycle)
    assert quick == slow
    assert quick.hash == slow.hash


def test_a_re_run_takes_the_quick_ways() -> None:
    """The test above compares something: a re-run's records are indexed at once and
    counted unchanged without `on_both`."""
    mapping = ObjectMapping(keys=["uid"], fields=[FieldMap(to="uid"), FieldMap(to="mail")])
    records: list[Record] = [{"uid": f"u{i}", "mail": f"m{i}"} for i in range(5)]
    with mock.patch.object(Planner, "on_both") as both:
        unchanged = plan(records, copy.deepcopy(records), mapping, ["uid", "mail"])
    assert both.call_count == 0
    assert unchanged.counts.unchanged == 5 and not unchanged.changes
    planner = Planner(mapping, ["uid", "mail"])
    assert planner.quick_keys(records) == [f"u{i}" for i in range(5)]
    assert planner.quick_keys([{"uid": " José "}]) is None  # not ASCII: one by one


def test_an_object_back_in_the_source_is_restored_though_its_record_is_unchanged() -> None:
    """An equal record is not simply unchanged when its object comes back: it is enabled,
    the quick way as the one-by-one way."""
    mapping = ObjectMapping(keys=["uid"], on_destination_only="disable", restore=True)
    records: list[Record] = [{"uid": "a", "mail": "x"}, {"uid": "b", "mail": "y"}]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    lifecycle = Lifecycle(absent_since={"a": now}, now=now)
    quick = plan(records, copy.deepcopy(records), mapping, ["mail"], lifecycle=lifecycle)
    with indexed_one_by_one():
        slow = plan(records, copy.deepcopy(records), mapping, ["mail"], lifecycle=lifecycle)
    assert [(c.action, c.key) for c in quick.changes] == [("enable", "a")]
    assert quick == slow and quick.hash == slow.hash


def test_keys_read_at_once_lose_their_spaces_as_one_by_one() -> None:
    """ " a " in the source is the object "a" of the destination, read at once or not."""
    mapping = ObjectMapping(keys=["uid"], fields=[FieldMap(to="uid"), FieldMap(to="mail")])
    source: list[Record] = [{"uid": " a ", "mail": "x"}, {"uid": "b ", "mail": "y"}]
    destination: list[Record] = [{"uid": "a", "mail": "x"}, {"uid": " b", "mail": "z"}]
    quick = plan(source, destination, mapping, ["uid", "mail"])
    with indexed_one_by_one():
        slow = plan(source, destination, mapping, ["uid", "mail"])
    assert [c.action for c in quick.changes] == ["update", "update"]  # no create, no delete
    assert quick == slow and quick.hash == slow.hash


usual_texts_read: st.SearchStrategy[Value] = st.sampled_from(["x", "é", "a|b", "a||b", " y "])
usual_lists_read: st.SearchStrategy[Value] = st.lists(
    st.sampled_from(["x", "y", "a|b", "é"]), min_size=1, max_size=3
)


@st.composite
def copied_batches(draw: st.DrawFn) -> tuple[list[FieldMap], list[Record]]:
    """A job copying its fields and a batch of its source's records: mostly each holding
    every field the job reads (text, or lists of text), now and then one that does not
    or holds something else."""
    fields = draw(copying_fields)
    listed = {field.source for field in fields if field.delimiter is not None}
    sources = sorted({field.source for field in fields})
    batch = []
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        record: Record = {
            name: draw(usual_lists_read if name in listed else usual_texts_read) for name in sources
        }
        if draw(st.integers(min_value=0, max_value=5)) == 0:  # now and then, anything
            anything = st.dictionaries(source_fields, mapped_values, max_size=2)
            record.update(cast(Record, draw(anything)))
        batch.append(record)
    return fields, batch


@settings(max_examples=500)
@given(copied_batches())
def test_a_batch_copied_at_once_maps_as_record_by_record(
    drawn: tuple[list[FieldMap], list[Record]],
) -> None:
    """A batch of a job copying its fields is read into columns at once (`copied`) where
    every record holds every field as `_shape_copies` copies it: the records made of
    them are those `map` gives one by one (their fields in the same order, and failing
    none), and share no list with the source; otherwise the batch is left to `map`."""
    fields, batch = drawn
    mapping = ObjectMapping(keys=["uid"], fields=fields)
    compiled = compile_mapping(mapping, CHECKING)
    originals = copy.deepcopy(batch)
    columns = compiled.copied(batch)
    assert batch == originals  # inputs never mutated
    if columns is None:
        return
    at_once = records_from_columns(*columns)
    one_by_one = [compiled.map(record) for record in batch]
    assert at_once == one_by_one
    assert [list(record) for record in at_once] == [list(record) for record in one_by_one]
    given = [value for record in batch for value in record.values() if isinstance(value, list)]
    made = [value for record in at_once for value in record.values() if isinstance(value, list)]
    assert not {id(value) for value in given} & {id(value) for value in made}


def test_the_usual_batches_are_copied_at_once() -> None:
    """The test above compares something: full batches of text and lists of text are
    copied at once; a batch with a value missing, empty, or not printable is not."""
    fields = [FieldMap(to="uid"), FieldMap(to="mail", from_="email"), FieldMap(to="groups")]
    fields[2] = FieldMap(to="groups", delimiter="|")
    compiled = compile_mapping(ObjectMapping(keys=["uid"], fields=fields), CHECKING)
    batch: list[Record] = [
        {"uid": "a", "email": "a@x", "groups": ["g", "h"]},
        {"email": "b@x", "uid": "b", "groups": ["g"], "other": "o"},
    ]
    assert compiled.copied(batch) == (
        ("uid", "mail", "groups"),
        [["a", "b"], ["a@x", "b@x"], [["g", "h"], ["g"]]],
    )
    assert compiled.copied([*batch, {"uid": "c", "email": "c@x"}]) is None
    assert compiled.copied([*batch, {"uid": "c", "email": "", "groups": ["g"]}]) is None
    assert compiled.copied([*batch, {"uid": "c", "email": "\x07", "groups": ["g"]}]) is None
    assert compiled.copied([*batch, {"uid": "c", "email": "c", "groups": ["g", ""]}]) is None


cells_read = st.sampled_from(["x", "é", "a|b", "a||b", "|a", "b|", "", " y ", "\x07", "a\tb", ";"])


@st.composite
def copied_rows(draw: st.DrawFn) -> tuple[list[FieldMap], values.TextRows]:
    """A job copying its fields and a batch of rows a file read: the columns a header
    names (now and then not one the job reads), each split by a delimiter or not, and
    cells mostly plain, now and then empty, doubling a delimiter or not printable."""
    fields = draw(copying_fields)
    names = sorted({field.source for field in fields} | set(draw(st.sets(source_fields))))
    if draw(st.integers(min_value=0, max_value=5)) == 0:
        names.remove(draw(st.sampled_from(names)))
    listed = {field.source for field in fields if field.delimiter is not None}
    odd = draw(st.integers(min_value=0, max_value=4)) == 0  # a column split, or not, unlike
    delimiters = [("|" if (name in listed) != odd else None) for name in names]
    plain = st.sampled_from(["x", "é", "a|b", "Ann Lee"])
    rows = [
        [draw(cells_read if draw(st.integers(0, 6)) == 0 else plain) for _ in names]
        for _ in range(draw(st.integers(min_value=0, max_value=6)))
    ]
    return fields, values.TextRows(names, rows, delimiters)


@settings(max_examples=500)
@given(copied_rows())
def test_rows_copied_at_once_are_the_records_copied_at_once(
    drawn: tuple[list[FieldMap], values.TextRows],
) -> None:
    """A batch of rows a file read is taken a column at a time (`copied_rows`), no record
    made, only where `copied` takes the records the rows make, and gives what it gives
    (lists none of them shares with another field); otherwise the records are made."""
    fields, rows = drawn
    compiled = compile_mapping(ObjectMapping(keys=["uid"], fields=fields), CHECKING)
    originals = copy.deepcopy(rows.rows)
    columns = compiled.copied_rows(rows)
    assert rows.rows == originals
    if columns is None:
        return
    assert columns == compiled.copied(rows.records())
    lists = [value for column in columns[1] for value in column if isinstance(value, list)]
    assert len({id(value) for value in lists}) == len(lists)


def test_the_usual_rows_are_copied_at_once() -> None:
    """The test above compares something: rows of printable text, a multi-valued column's
    items none empty, are taken at once; a row with an empty cell, an empty item or a
    control character is not, nor a column split that the job reads as one value."""
    fields = [FieldMap(to="uid"), FieldMap(to="mail", from_="email")]
    fields.append(FieldMap(to="groups", delimiter="|"))
    compiled = compile_mapping(ObjectMapping(keys=["uid"], fields=fields), CHECKING)
    names, delimiters = ["email", "uid", "groups", "x"], [None, None, "|", None]

    def rows(*more: list[str]) -> values.TextRows:
        read = [["a@x", "a", "g|h", ""], ["b@x", "b", "g", "o"], *more]
        return values.TextRows(names, read, delimiters)

    assert compiled.copied_rows(rows()) == (
        ("uid", "mail", "groups"),
        [["a", "b"], ["a@x", "b@x"], [["g", "h"], ["g"]]],
    )
    assert compiled.copied_rows(rows(["", "c", "g", "o"])) is None
    assert compiled.copied_rows(rows(["c@x", "c", "g||h", "o"])) is None
    assert compiled.copied_rows(rows(["c@x", "c", "g|", "o"])) is None
    assert compiled.copied_rows(rows(["c\x07", "c", "g", "o"])) is None
    split_mail = values.TextRows(names, rows().rows, ["|", None, "|", None])
    assert compiled.copied_rows(split_mail) is None


@given(st.lists(st.one_of(odd_values, st.text(max_size=4), st.none()), max_size=6))
def test_texts_are_printable_at_once_as_one_by_one(texts: list[Value | None]) -> None:
    one_by_one = all(isinstance(text, str) and text.isprintable() for text in texts)
    assert all_printable(texts) == one_by_one  # type: ignore[arg-type]


def sql_destinations() -> list[SqlReading[Any, Any]]:
    """A PostgreSQL and a MySQL table (not connected: their columns as the catalogue would
    list them): text, typed, binary, an array, and two multi-valued text fields."""
    layout = Layout(keys=("uid",), multi_valued={"groups": "|", "tags": ";", "codes": "|"})
    endpoint = Endpoint(connection="db", table="people")
    pg = PostgresqlProvider(PostgresqlConnection(id="db", database="d", user="u"), endpoint, layout)
    pg._columns = {
        "uid": pg_values.Column("uid", "text", "text"),
        "name": pg_values.Column("name", "varchar", "character varying"),
        "groups": pg_values.Column("groups", "text", "text"),
        "tags": pg_values.Column("tags", "bpchar", "character(8)"),
        "age": pg_values.Column("age", "int4", "integer"),
        "doc": pg_values.Column("doc", "jsonb", "jsonb"),
        "photo": pg_values.Column("photo", "bytea", "bytea"),
        "codes": pg_values.Column("codes", "text", "text[]", array=True),
    }
    my = MysqlProvider(MysqlConnection(id="db", database="d", user="u"), endpoint, layout)
    my._columns = {
        "uid": my_values.Column("uid", "varchar", "varchar(64)"),
        "name": my_values.Column("name", "text", "text"),
        "groups": my_values.Column("groups", "text", "text"),
        "tags": my_values.Column("tags", "char", "char(8)"),
        "age": my_values.Column("age", "int", "int"),
        "doc": my_values.Column("doc", "longtext", "longtext", json=True),
        "photo": my_values.Column("photo", "blob", "blob"),
        "codes": my_values.Column("codes", "varchar", "varchar(64)"),
    }
    return [pg, my]


SQL_FIELDS = ["uid", "name", "groups", "tags", "age", "doc", "photo", "codes", "extra"]
sql_values: st.SearchStrategy[Value] = st.one_of(
    st.sampled_from(["x", "é", "042", "4.20", '{"b":1, "a":2}', "a|b", "a;b", "", " x "]),
    st.lists(st.sampled_from(["x", "y", "", "a|b", "a;b", "7", "\x00"]), max_size=3),
    st.builds(Binary, st.sampled_from([b"", b"\x00", b"x"])),
)


@st.composite
def sql_columns(draw: st.DrawFn) -> tuple[list[str], list[list[Value]]]:
    """Columns as a batch mapped at once gives them: some fields, one value a record;
    mostly text, and lists of text in the multi-valued fields."""
    names = draw(st.lists(st.sampled_from(SQL_FIELDS), unique=True, max_size=4))
    count = draw(st.integers(min_value=1, max_value=4))
    usual: dict[str, st.SearchStrategy[Value]] = {
        "groups": usual_lists_read,
        "tags": usual_lists_read,
        "codes": usual_lists_read,
    }
    columns = []
    for name in names:
        usual_value = usual.get(name, usual_texts_read)
        values = st.one_of(usual_value, usual_value, sql_values)
        columns.append(draw(st.lists(values, min_size=count, max_size=count)))
    return names, columns


@settings(max_examples=500)
@given(sql_columns())
def test_records_a_sql_table_gives_back_as_they_are_are_their_canonical_form(
    drawn: tuple[list[str], list[list[Value]]],
) -> None:
    """Where a table says at once that the records of a batch read back as they are
    (`canonical_as_is`), each one's canonical form, record by record, is the record
    itself: typed, binary and array columns, and items holding the delimiter, never are."""
    names, columns = drawn
    records = records_from_columns(names, columns)
    for side in sql_destinations():
        if side.canonical_as_is(names, columns):
            assert [side.canonical(record) for record in records] == records


def test_a_sql_table_tells_the_usual_batch_at_once() -> None:
    """The test above compares something: text in text columns and lists of text in its
    multi-valued ones are given back as they are; a typed column, an item holding the
    delimiter, an empty value, a list in a single-valued field or a field missing from a
    record are not."""
    names = ["uid", "name", "groups", "extra"]
    columns: list[list[Value]] = [["a", "b"], ["A", "B"], [["g", "h"], ["g"]], ["e", "f"]]

    def as_is(names: list[str], columns: list[list[Value]]) -> bool:
        return side.canonical_as_is(names, columns)

    for side in sql_destinations():
        assert as_is(names, columns)
        assert not as_is(["age"], [["42", "7"]])
        assert not as_is(["groups"], [[["g|h"], ["g"]]])
        assert not as_is(["name"], [["A", ""]])
        assert not as_is(["name"], [["A", ["B"]]])
        assert not as_is(["groups"], [["g", ["h"]]])
        assert not side.canonical_as_is(*columns_from_records([{"name": "A"}, {"uid": "b"}]))


JOSE_NFC, JOSE_NFD = (unicodedata.normalize(form, JOSE) for form in ("NFC", "NFD"))
rerun_keys = st.sampled_from(["a", " a", "b", "B", "c ", JOSE_NFC, JOSE_NFD, "é", "e", " "])
rerun_records: st.SearchStrategy[Record] = st.fixed_dictionaries(
    {"uid": rerun_keys}, optional={"mail": usual_texts, "note": usual_texts}
)


@st.composite
def reruns(draw: st.DrawFn) -> tuple[list[Record], list[Record]]:
    """A source of text keys and the destination a run of it left, but for a few objects
    gone from it, a few it has that the source has not, and a few changed."""
    source = draw(st.lists(rerun_records, max_size=8))
    kept = draw(st.lists(st.booleans(), min_size=len(source), max_size=len(source)))
    destination = [copy.deepcopy(r) for r, keep in zip(source, kept, strict=True) if keep]
    destination += draw(st.lists(rerun_records, max_size=3))
    return source, draw(st.permutations(destination))


@settings(max_examples=500)
@given(reruns(), st.sampled_from(["delete", "skip", "disable"]), st.booleans())
def test_a_re_run_with_objects_gone_or_new_plans_as_one_by_one(
    drawn: tuple[list[Record], list[Record]],
    absence: Literal["delete", "skip", "disable"],
    act: bool,
) -> None:
    """Re-runs whose keys are all text — ASCII or not, with spaces around or not —, with
    objects the source no longer has or has not made yet: where every record's key is
    read at once and every object is found in the source without looking again, the
    plan is the one of the planner looking at each record."""
    source, destination = drawn
    mapping = ObjectMapping(
        keys=["uid"],
        fields=[FieldMap(to="uid"), FieldMap(to="mail"), FieldMap(to="note")],
        on_destination_only=absence,
        delete_after="30d" if absence == "disable" else None,
    )
    managed = managed_fields(mapping, ())
    copies = copy.deepcopy((source, destination))
    try:
        quick: Plan | str = plan(source, destination, mapping, managed, act_on_absence=act)
    except BadInput as error:  # a key twice, every key empty
        quick = str(error)
    with indexed_one_by_one():
        try:
            slow: Plan | str = plan(*copies, mapping, managed, act_on_absence=act)
        except BadInput as error:
            slow = str(error)
    assert quick == slow


@functools.cache
def sqlite_destination(columns: str) -> SqliteReading:
    """A SQLite destination whose table has these columns, its schema read as a batch's
    write reads it (the probe of its numeric columns made); one per shape of table."""
    folder = Path(tempfile.mkdtemp(prefix="idsync-test-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # kept while the tests run
    path = folder / "people.db"
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE people ({columns})")
        layout = Layout(keys=("uid",), multi_valued={"groups": "|", "tags": "||"})
        provider = open_provider(
            SqliteConnection(path=str(path)), Endpoint(connection="db", table="people"), layout
        )
        assert isinstance(provider, SqliteReading)
        provider._schema_in(db)
    db.close()
    return provider


SQLITE_FIELDS = ["uid", "mail", "groups", "tags", "age"]
sqlite_values: st.SearchStrategy[Value] = st.one_of(
    st.sampled_from(["", "x", " x ", "42", "042", "a|b", "|", "a||b"]),
    st.lists(st.sampled_from(["", "x", "y|", "|z", "a|b", "a||b"]), max_size=3),
    st.builds(Binary, st.sampled_from([b"", b"\x00"])),
)
sqlite_records = st.lists(
    st.dictionaries(st.sampled_from(SQLITE_FIELDS), sqlite_values, max_size=5), max_size=8
)


@settings(max_examples=300)
@given(sqlite_records, st.booleans())
def test_a_batch_sqlite_keeps_as_it_is_is_each_record_kept_as_it_is(
    records: list[Record], numeric: bool
) -> None:
    """`canonical_as_is` says of a batch only what `canonical` does of each of its records:
    given back as it is (numbers stored by a numeric column are not)."""
    age = "age INTEGER" if numeric else "age TEXT"
    destination = sqlite_destination(f"uid TEXT, mail TEXT, groups TEXT, tags TEXT, {age}")
    if destination.canonical_as_is(*columns_from_records(records)):
        assert all(destination.canonical(record) is record for record in records)


def test_the_usual_batch_is_kept_as_it_is() -> None:
    """The test above compares something: a batch of text and lists of text is kept as it
    is, a record holding fewer fields too; one empty text, a list where no delimiter is,
    an item holding the delimiter, binary data or a numeric column among its fields is
    not."""
    destination = sqlite_destination("uid TEXT, mail TEXT, groups TEXT, tags TEXT, age INTEGER")
    usual: list[Record] = [
        {"uid": f"u{n}", "mail": f"m{n}@example.org", "groups": ["a", "b"], "tags": ["t|u"]}
        for n in range(100)
    ]
    assert destination.canonical_as_is(*columns_from_records(usual))
    fewer: list[Record] = [{"uid": "v"}]  # its empty fields left out, as mapping leaves them
    assert destination.canonical_as_is(*columns_from_records([*usual, *fewer]))
    odds: list[Record] = [
        {"uid": "u", "mail": ""},
        {"uid": "u", "mail": ["m"]},
        {"uid": "u", "groups": ["a|b"]},
        {"uid": "u", "tags": ["a||"]},
        {"uid": "u", "mail": Binary(b"m")},
        {"uid": "u", "age": "42"},
    ]
    for odd in odds:
        assert not destination.canonical_as_is(*columns_from_records([*usual, odd]))


@settings(max_examples=200)
@given(sqlite_records)
def test_a_batch_mapped_at_once_is_mapped_as_record_by_record(records: list[Record]) -> None:
    """The mapper shapes a batch and makes it canonical at once where the destination keeps
    it as it is: the same records (their fields in the same order) and the same failures
    as record by record."""
    mapping = ObjectMapping(
        keys=["uid"],
        fields=[
            FieldMap(to="uid"),
            FieldMap(to="mail"),
            FieldMap(to="groups", delimiter="|"),
            FieldMap(to="tags", delimiter="||"),
            FieldMap(to="age"),
        ],
    )
    destination = sqlite_destination("uid TEXT, mail TEXT, groups TEXT, tags TEXT, age INTEGER")
    compiled = compile_mapping(mapping, MappingContext.checking("job"))
    at_once = SourceMapper(compiled, destination.canonical, mapping)
    at_once.as_is = destination.canonical_as_is
    one_by_one = SourceMapper(compiled, destination.canonical, mapping)

    mapped = at_once.map(copy.deepcopy(records))
    expected = one_by_one.map(copy.deepcopy(records))

    assert mapped == expected
    assert [list(record) for record in mapped] == [list(record) for record in expected]
    assert at_once.errors == one_by_one.errors
    assert at_once.failures == one_by_one.failures


def spilled(spill: Spill) -> tuple[list[tuple[str, bytes]], list[str], PlanCounts, int, int]:
    entries = [entry for run in spill.sorted_runs() for entry in run]
    return entries, list(spill.sorted_keys()), spill.counts, spill.records, spill.entries


@settings(max_examples=300)
@given(quick_mappings, st.lists(creates, max_size=8), st.sampled_from([2, 3, 100_000]))
def test_creates_spilled_a_batch_at_a_time_are_those_spilled_one_by_one(
    mapping: ObjectMapping, records: list[Record], run_size: int
) -> None:
    """A batch of creates planned at once (`quick_batch`, or each in turn where it does
    not serve them all) spills the very entries, keys, counts and warnings of the creates
    spilled one by one, across runs written to disk."""
    managed = managed_fields(mapping, ())
    keyed = [
        (key, record)
        for record in records
        if (key := match_key(record, mapping.keys, mapping.case_insensitive)) is not None
    ]
    with mock.patch("services.runner.planning.spill.RUN_SIZE", run_size):
        one_by_one, at_once = Spill(mapping, managed), Spill(mapping, managed)
        for key, record in keyed:
            one_by_one.add(key, dict(record))
        at_once.add_all([key for key, _ in keyed], [dict(record) for _, record in keyed])
        assert spilled(at_once) == spilled(one_by_one)
        assert at_once.warnings() == one_by_one.warnings()


@settings(max_examples=300)
@given(quick_mappings, st.lists(creates, max_size=8), st.sampled_from([2, 3, 100_000]))
def test_creates_spilled_from_columns_are_those_of_their_records(
    mapping: ObjectMapping, records: list[Record], run_size: int
) -> None:
    """A batch kept as its columns (the mapper's `unmade`) spills the very entries, keys,
    counts and warnings of the records the columns make spilled a batch at a time, across
    runs written to disk."""
    managed = managed_fields(mapping, ())
    fields = tuple(records[0]) if records else ()
    keyed = [
        (key, record)
        for record in records
        if tuple(record) == fields
        and (key := match_key(record, mapping.keys, mapping.case_insensitive)) is not None
    ]
    keys = [key for key, _ in keyed]
    columns = [[record[field] for _, record in keyed] for field in fields]
    with mock.patch("services.runner.planning.spill.RUN_SIZE", run_size):
        from_records, from_columns = Spill(mapping, managed), Spill(mapping, managed)
        from_records.add_all(keys, records_from_columns(fields, copy.deepcopy(columns)))
        from_columns.add_columns(keys, fields, copy.deepcopy(columns))
        assert spilled(from_columns) == spilled(from_records)
        assert from_columns.warnings() == from_records.warnings()


def test_the_usual_columns_are_spilled_from_them() -> None:
    """The test above compares something: a plain job's columns are planned from them,
    no record made; a column holding an empty value or a field the job does not write is
    not."""
    mapping = ObjectMapping(keys=["uid"], fields=[FieldMap(to="uid"), FieldMap(to="groups")])
    quick = quick_columns(Planner(mapping, ("uid", "groups")))
    assert quick is not None
    fields = ("uid", "groups")
    entries = quick(["a", "b"], fields, [["a", "b"], [["x", "y"], ["z"]]])
    batch = quick_batch(Planner(mapping, ("uid", "groups")))
    assert batch is not None
    records: list[Record] = [{"uid": "a", "groups": ["x", "y"]}, {"uid": "b", "groups": ["z"]}]
    assert entries is not None and entries == batch(["a", "b"], records)
    assert quick(["a"], fields, [["a"], [["x", ""]]]) is None  # the planner drops ""
    assert quick(["a"], ("uid", "mail"), [["a"], ["m"]]) is None  # a field not written
    assert quick(["uid=a"], ("uid",), [["uid=a"]]) is None  # a DN's depth orders it


def test_a_batch_of_the_usual_creates_is_spilled_at_once() -> None:
    """The test above compares something: the usual records of a plain job are planned a
    batch at a time."""
    mapping = ObjectMapping(keys=["uid"], fields=[FieldMap(to="uid"), FieldMap(to="groups")])
    quick = quick_batch(Planner(mapping, ("uid", "groups")))
    assert quick is not None
    records: list[Record] = [{"uid": "a", "groups": ["x", "y"]}, {"uid": "b"}]
    assert quick(["a", "b"], records) is not None
    assert quick(["a"], [{"uid": "a", "groups": ["x", ""]}]) is None  # the planner drops ""
    assert quick(["a"], [{"uid": "a", "mail": "m"}]) is None  # a field the job does not write
    assert quick(["uid=a"], [{"uid": "uid=a"}]) is None  # a DN's depth orders it


@settings(max_examples=300)
@given(
    quick_mappings,
    st.lists(creates, max_size=6),
    st.lists(creates, max_size=3),
    st.lists(st.sampled_from(["x", "X", "a / b"]), max_size=2),
    st.booleans(),
)
def test_the_keys_of_a_batch_of_plain_creates_read_at_once_are_those_read_one_by_one(
    mapping: ObjectMapping,
    records: list[Record],
    destination: list[Record],
    returning: list[str],
    leaver: bool,
) -> None:
    """A batch whose records are all plain creates (lean planning, `_plain_keys`) has the
    keys `_plain_create` finds one by one — against the destination's keys, the objects
    coming back and a leaver."""
    index = DigestIndex(mapping, managed_fields(mapping, ()), frozenset(returning))
    for record in destination:
        index.add_destination(record)
    if leaver and records:
        records[-1] = {**records[-1], LEAVER_FIELD: "yes"}
    keys = _plain_keys(index, records)
    if keys is not None:
        assert keys == [_plain_create(index, record) for record in records]


def test_the_usual_batch_of_creates_is_keyed_at_once() -> None:
    """The test above compares something: a first run's batch is keyed at once."""
    mapping = ObjectMapping(keys=["uid"], fields=[FieldMap(to="uid"), FieldMap(to="mail")])
    index = DigestIndex(mapping, ("uid", "mail"))
    index.add_destination({"uid": "old"})
    assert _plain_keys(index, [{"uid": "a"}, {"uid": " b "}]) == ["a", "b"]
    assert _plain_keys(index, [{"uid": "a"}, {"uid": "old"}]) is None  # at the destination
    assert _plain_keys(index, [{"uid": "a", LEAVER_FIELD: "yes"}]) is None


plain_values: st.SearchStrategy[Value] = st.one_of(
    st.sampled_from(["x", "X", " x ", "é", "a / b"]),
    st.lists(st.sampled_from(["x", "y", "é"]), min_size=1, max_size=3),
)


edge_values: st.SearchStrategy[Value] = st.one_of(
    st.sampled_from(["", "uid=a,ou=x", [], ["x", ""], Binary(b"x")]), odd_values
)


@st.composite
def first_runs(draw: st.DrawFn) -> tuple[ObjectMapping, tuple[str, ...], list[Record]]:
    """A mapping, the fields it writes, and source records for an empty destination: as a
    job's mapper makes them (each holding those fields in their order), mostly; now and
    then one with an odd value, its fields in another order, or anything."""
    mapping = draw(quick_mappings)
    if draw(st.integers(min_value=0, max_value=3)):  # mostly what a first run's job is
        fields = draw(st.permutations(["uid", "ou", "mail", "groups"]))
        mapping = msgspec.structs.replace(
            mapping,
            keys=["uid"],
            on_source_only="create",
            fields=[FieldMap(to=field) for field in fields],
        )
    managed = managed_fields(mapping, ())
    written = tuple(dict.fromkeys([*mapping.keys, *managed]))
    odd = draw(st.booleans())
    records: list[Record] = []
    for at in range(draw(st.integers(min_value=0, max_value=6))):
        record: Record = {field: draw(plain_values) for field in written}
        for field in mapping.keys:  # keys each record's own, mostly
            if draw(st.integers(min_value=0, max_value=5)):
                record[field] = f"{field}{at}"
        if odd and draw(st.integers(min_value=0, max_value=2)) == 0:
            record[draw(st.sampled_from(written))] = draw(edge_values)
        elif odd and draw(st.integers(min_value=0, max_value=2)) == 0:
            record = dict(draw(st.permutations(list(record.items()))))
        elif odd and draw(st.integers(min_value=0, max_value=5)) == 0:
            record = draw(creates)
        records.append(record)
    return mapping, managed, records


@settings(max_examples=500)
@given(first_runs(), st.booleans())
def test_a_first_runs_creates_made_at_once_are_those_made_one_by_one(
    run: tuple[ObjectMapping, tuple[str, ...], list[Record]], twice: bool
) -> None:
    """An empty destination (or one whose objects all share their keys: none is found):
    the creates `Planner.creates_at_once` makes are the planner's, one by one — the same
    plan (changes, their fields in the same order, counts, hash, warnings), or the same
    refusal — and share no list with the records."""
    mapping, managed, source = run
    destination: list[Record] = [{"uid": "dup", "ou": "dup"}] * 2 if twice else []
    copies = copy.deepcopy(source)

    def planned(records: list[Record]) -> Plan | str:
        try:
            return plan(records, copy.deepcopy(destination), mapping, managed)
        except BadInput as refused:
            return f"{type(refused).__name__}: {refused}"

    quick = planned(source)
    assert source == copies  # the records are left as they were
    with mock.patch.object(Planner, "creates_at_once", return_value=False):
        slow = planned(copies)
    assert quick == slow
    if isinstance(quick, Plan) and isinstance(slow, Plan):
        assert quick.hash == slow.hash
        assert msgspec.msgpack.encode(quick.changes) == msgspec.msgpack.encode(slow.changes)
        lists = {id(v) for r in source for v in r.values() if isinstance(v, list)}
        assert not any(id(v) in lists for c in quick.changes for v in c.set.values())


def test_a_usual_first_run_is_planned_at_once() -> None:
    """The test above compares something: a first run's usual records (every field
    written, text or lists of text) are created at once, and the unusual left to the
    planner one by one."""
    mapping = ObjectMapping(keys=["uid"], fields=[FieldMap(to="uid"), FieldMap(to="groups")])
    records: list[Record] = [{"uid": f"u{i}", "groups": ["x", "y"]} for i in range(5)]
    with mock.patch.object(Planner, "on_source_only") as one_by_one:
        first = plan(records, [], mapping, ["uid", "groups"])
    assert one_by_one.call_count == 0
    assert first.counts.create == 5
    assert [c.set for c in first.changes] == records
    planner = Planner(mapping, ["uid", "groups"])
    assert not planner.creates_at_once([("a", {"uid": "a", "groups": ["x", ""]})])  # "" dropped
    assert not planner.creates_at_once([("a", {"groups": ["x"], "uid": "a"})])  # another order
    assert not planner.creates_at_once([("uid=a", {"uid": "uid=a", "groups": ["x"]})])  # a DN
    assert not planner.creates_at_once([("a", {"uid": ["a"], "groups": ["x"]})])  # a list key
    assert planner.creates_at_once([("a", {"uid": "a", "groups": ["x"]})])


odd_changes = st.builds(
    Change,
    action=st.sampled_from(["create", "create", "update"]),
    key=st.sampled_from(["uid0", "x", ""]),
    match=st.one_of(
        st.just({"uid": "uid0"}),
        st.fixed_dictionaries({"uid": usual_texts, "ou": usual_texts}),
        st.dictionaries(st.sampled_from(["uid", "mail"]), usual_texts, max_size=1),
    ),
    set=st.dictionaries(st.sampled_from(["uid", "ou", "mail", "groups"]), odd_values, max_size=4),
    clear=st.sampled_from([(), ("mail",)]),
    create_only=st.sampled_from([(), ("mail",)]),
    object_type=st.sampled_from(["user", "group"]),
    container=st.sampled_from([None, "ou=x"]),
    follow_up=st.booleans(),
    identifier=st.sampled_from(["", "uid=uid0"]),
    sources=st.sampled_from([{}, {"mail": "m"}]),
)


VARIANTS: list[dict[str, Any]] = [
    {"create_only": ("uid",)},
    {"action": "update"},
    {"key": "other"},
    {"match": {"uid": "other"}},
    {"container": "ou=x"},
    {"object_type": "".join(["us", "er"])},  # the default, written out
    {"object_type": "group"},
    {"sources": {"uid": "x"}},
    {"follow_up": True},
    {"identifier": "uid=x"},
    {"clear": ("mail",)},
    {"before": {"uid": "x"}},
    {"set": {}},
]
"""Changes one field away from a plain create, each."""


def sent(changes: Creates) -> bytes:
    return encode(
        WorkBatch(run_id="r", job_id="j", plan_hash="h", phase=0, number=1, changes=changes)
    )


@settings(max_examples=500)
@given(
    first_runs(),
    st.lists(odd_changes, max_size=3),
    st.integers(min_value=0, max_value=6),
    st.integers(min_value=1, max_value=4),
    st.lists(st.tuples(st.integers(min_value=0, max_value=6), st.sampled_from(VARIANTS))),
)
def test_a_batch_of_plain_creates_sent_as_columns_is_its_changes(
    run: tuple[ObjectMapping, tuple[str, ...], list[Record]],
    odd: list[Change],
    where: int,
    size: int,
    varied: list[tuple[int, dict[str, Any]]],
) -> None:
    """A spilled plan's batch sent as columns (`as_columns`: plain creates only) is, as a
    reader decodes it (`decode_batch`) and as the runner applying it does (`decode_columns`,
    then the changes made of the columns), the very changes of the plan: byte for byte as
    the plan's hash encodes them, and their fields in the same order. Batches of a first
    run's creates, and of those mixed with any other change."""
    mapping, managed, source = run
    spill = Spill(mapping, managed)
    keyed = [
        (key, record)
        for record in source
        if (key := match_key(record, mapping.keys, mapping.case_insensitive)) is not None
    ]
    spill.add_all([key for key, _ in keyed], [dict(record) for _, record in keyed])
    entries = spilled(spill)[0]
    for at, variant in varied if entries else ():  # a create made one field away from plain
        place, data = entries[at % len(entries)]
        change = msgspec.structs.replace(decoded(data), **variant)
        entries[at % len(entries)] = (place, encoded_for_hash(change))
    entries[where:where] = [("", encoded_for_hash(change)) for change in odd]
    for at in range(0, len(entries), size):
        batch = entries[at : at + size]
        creates = as_columns(batch)
        if creates is None:
            continue
        expected = [data for _, data in batch]
        data = sent(creates)
        columns = decode_columns(data).changes
        assert isinstance(columns, Creates) and len(columns) == len(batch)
        assert [encoded_for_hash(change) for change in columns] == expected
        listed_changes = decode_batch(data).changes
        assert [encoded_for_hash(change) for change in listed_changes] == expected
        plain = msgspec.msgpack.encode([decoded(data) for data in expected])
        assert msgspec.msgpack.encode(listed_changes) == plain  # fields in the same order


@settings(max_examples=300)
@given(
    first_runs(),
    st.integers(min_value=1, max_value=4),
    st.booleans(),
    st.sampled_from([2, 3, 100_000]),
)
def test_a_spilled_plans_batches_are_its_changes(
    run: tuple[ObjectMapping, tuple[str, ...], list[Record]],
    size: int,
    from_columns: bool,
    run_size: int,
) -> None:
    """A first run's plan read back, cut into batches and sent (its batches of plain
    creates as columns, taken from the values planned where its creates were planned from
    columns and are still in memory): the batches, decoded as a reader decodes them, hold
    the plan's changes in order, byte for byte; a batch kept to recall is the one sent."""
    mapping, managed, source = run
    keyed = [
        (key, record)
        for record in source
        if (key := match_key(record, mapping.keys, mapping.case_insensitive)) is not None
    ]
    keys = [key for key, _ in keyed]
    fields = tuple(keyed[0][1]) if keyed else ()
    with mock.patch("services.runner.planning.spill.RUN_SIZE", run_size):
        spill = Spill(mapping, managed)
        if from_columns and all(tuple(record) == fields for _, record in keyed):
            spill.add_columns(keys, fields, [[record[f] for _, record in keyed] for f in fields])
        else:
            spill.add_all(keys, [dict(record) for _, record in keyed])
        try:
            plan_read, _ = settle(spill, [], mapping, ())
        except DuplicateKey:
            return
        with (
            mock.patch("services.runner.plans.MAX_BATCH_BYTES", 600),
            mock.patch("services.runner.plans.COLUMNS_OVERHEAD", 150),
        ):
            batched = Batched(plan_read, size * 40)
            messages = list(batched.encoded("r", "j", "h", {}))
            cut = [number for _, number, _, _ in batched._spilled(plan_read)]
    changes = [change for _, data, _ in messages for change in decode_batch(data).changes]
    assert list(map(encoded_for_hash, changes)) == list(plan_read.encoded())
    assert cut == list(range(1, len(messages) + 1))  # as `places` numbers them
    for _, data, kept in messages:
        assert kept is None or encode(kept) == data
        if isinstance(decode_columns(data).changes, Creates):  # cut by its size as sent
            assert len(data) <= 600


def test_a_batch_of_the_usual_creates_is_sent_as_columns() -> None:
    """The tests above compare something: a first run's usual batch is sent as columns;
    one holding any other change is not."""
    mapping = ObjectMapping(keys=["uid"], fields=[FieldMap(to="uid"), FieldMap(to="groups")])
    spill = Spill(mapping, ("uid", "groups"))
    records: list[Record] = [{"uid": f"u{i}", "groups": ["x", "y"]} for i in range(3)]
    spill.add_all([f"u{i}" for i in range(3)], records)
    entries = spilled(spill)[0]
    creates = as_columns(entries)
    assert creates is not None
    assert creates.fields == ("groups", "uid") and creates.keys == ["u0", "u1", "u2"]
    from_columns = Spill(mapping, ("uid", "groups"))  # the values planned taken as they are
    from_columns.add_columns(["u0", "u1"], ("uid", "groups"), [["u0", "u1"], [["x"], ["y"]]])
    planned, _ = settle(from_columns, [], mapping, ())
    planned_entries = spilled(from_columns)[0]
    values = planned.values_of(planned_entries)
    assert values is not None
    assert as_columns(planned_entries, values) == as_columns(planned_entries)
    plain = decoded(entries[0][1])
    for odd in (
        msgspec.structs.replace(plain, create_only=("groups",)),
        msgspec.structs.replace(plain, action="update"),
        msgspec.structs.replace(plain, key="other"),
        msgspec.structs.replace(plain, container="ou=x"),
        msgspec.structs.replace(plain, set={"uid": "u0"}),
        msgspec.structs.replace(plain, sources={"groups": "g"}),
    ):
        assert as_columns([*entries, ("", encoded_for_hash(odd))]) is None, odd
    many = Spill(mapping, ("uid", "groups"))  # cut by their size as columns: more a batch
    uids = [f"user-{i:03d}" for i in range(40)]
    groups: list[Value] = [["group-x", "group-y"]] * 40
    many.add_columns(uids, ("uid", "groups"), [list[Value](uids), groups])
    plan_read, _ = settle(many, [], mapping, ())
    with (
        mock.patch("services.runner.plans.MAX_BATCH_BYTES", 600),
        mock.patch("services.runner.plans.COLUMNS_OVERHEAD", 150),
    ):
        messages = [data for _, data, _ in Batched(plan_read, 100).encoded("r", "j", "h", {})]
    sizes = [len(decode_columns(data).changes) for data in messages]
    assert sum(sizes) == 40 and max(map(len, messages)) <= 600
    raw = sum(len(data) for _, data in spilled(many)[0]) / 40
    assert min(sizes[:-1]) > 600 / raw, "more creates a batch than their changes would fit"
    written = Creates(key_field="uid", fields=("uid",), columns=[["a"]], type_written=True)
    assert encoded_for_hash(written[0]) == encoded_for_hash(
        Change(
            action="create",
            key="a",
            match={"uid": "a"},
            set={"uid": "a"},
            object_type="".join(["us", "er"]),
        )
    )


@settings(max_examples=300)
@given(
    st.integers(min_value=1, max_value=5),
    st.lists(st.tuples(st.integers(min_value=0, max_value=4), st.sampled_from(VARIANTS))),
    st.sampled_from(["user", "".join(["us", "er"]), "group"]),
    st.sampled_from([None, "ou=x"]),
)
def test_creates_one_field_away_from_plain_are_sent_as_their_changes(
    count: int, varied: list[tuple[int, dict[str, Any]]], kind: str, container: str | None
) -> None:
    """A batch of plain creates with some made one field away from plain (another action,
    key, match, container or type, or a field a plain create has not): sent as columns, it
    is still its changes byte for byte — or it is not sent as columns. Also for a job
    whose type is named "user" in so many words, which its changes then write out."""
    mapping = ObjectMapping(
        keys=["uid"],
        type=kind,
        container=container,
        fields=[FieldMap(to="uid"), FieldMap(to="mail"), FieldMap(to="groups")],
    )
    spill = Spill(mapping, ("uid", "mail", "groups"))
    records: list[Record] = [
        {"uid": f"u{i}", "mail": f"m{i}", "groups": ["g"]} for i in range(count)
    ]
    spill.add_all([f"u{i}" for i in range(count)], records)
    entries = spilled(spill)[0]
    for at, variant in varied:
        place, data = entries[at % count]
        entries[at % count] = (
            place,
            encoded_for_hash(msgspec.structs.replace(decoded(data), **variant)),
        )
    creates = as_columns(entries)
    if creates is not None:
        assert [encoded_for_hash(change) for change in creates] == [data for _, data in entries]
        assert [encoded_for_hash(change) for change in decode_batch(sent(creates)).changes] == [
            data for _, data in entries
        ]


def test_a_batch_sent_as_columns_of_many_long_field_names_stays_under_the_limit() -> None:
    """A batch of creates cut by their size as columns counts its field names: 400 fields
    named at some length, a short value each, go in batches of at most 512 KiB as sent,
    each its changes (the field names took 26 KB beyond what a batch allowed for them)."""
    names = (
        "uid",
        *[f"an_attribute_named_at_a_length_some_directories_have_{i:03d}" for i in range(400)],
    )
    mapping = ObjectMapping(keys=["uid"], fields=[FieldMap(to=name) for name in names])
    many = Spill(mapping, names)
    uids = [f"u{i}" for i in range(1_400)]
    many.add_columns(
        uids, names, [list[Value](uids), *[list[Value](["v"] * len(uids)) for _ in names[1:]]]
    )
    plan_read, _ = settle(many, [], mapping, ())
    messages = [data for _, data, _ in Batched(plan_read, 100_000).encoded("r", "j", "h", {})]
    batches = [decode_columns(data).changes for data in messages]
    assert all(isinstance(batch, Creates) for batch in batches) and len(batches) > 2
    assert sum(map(len, batches)) == len(uids)
    assert max(map(len, messages)) <= MAX_BATCH_BYTES, list(map(len, messages))
