"""Columns said to be plain (`PlainColumns`: a CSV batch copied as it is) are plain, and
what is said of them without looking at each value again is what is said looking: the
planner's creates, and a SQLite table keeping the batch as it is."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from core.engine import managed_fields
from core.engine.mapping import compile_mapping
from schemas import values
from schemas.jobs import FieldMap, ObjectMapping
from schemas.values import PlainColumns, Value
from services.runner.planning.spill import Spill, _plain_values

from .test_fast_paths import (
    CHECKING,
    SQL_FIELDS,
    copied_rows,
    spilled,
    sql_destinations,
    sqlite_destination,
)

texts = st.sampled_from(["x", "é", "a|b", "a||b", "|", "Ann Lee", "42", "\U0001f600"])
items = st.lists(st.sampled_from(["x", "y|", "|z", "a|b", "a||b", "|", "g"]), min_size=1)
FIELDS = ("uid", "mail", "groups", "tags", "age")
KINDS: dict[str, st.SearchStrategy[Value]] = {
    "uid": texts,
    "mail": texts,
    "groups": items,
    "tags": items,
    "age": texts,
}


@settings(max_examples=500)
@given(copied_rows())
def test_rows_copied_at_once_are_plain_columns(
    drawn: tuple[list[FieldMap], values.TextRows],
) -> None:
    """What `copied_rows` says is plain is: every value non-empty text or a non-empty
    list of non-empty texts, `str` itself, each column of one kind."""
    fields, rows = drawn
    compiled = compile_mapping(ObjectMapping(keys=["uid"], fields=fields), CHECKING)
    copied = compiled.copied_rows(rows)
    if copied is None:
        return
    columns = copied[1]
    assert isinstance(columns, PlainColumns)
    for column in columns:
        assert _plain_values(column)
        assert len({type(value) for value in column}) <= 1


@st.composite
def plain_columns(draw: st.DrawFn) -> tuple[tuple[str, ...], list[list[Value]]]:
    """A batch's plain columns: its key field's, and others, in any order."""
    others = draw(st.lists(st.sampled_from(FIELDS[1:]), unique=True))
    names = tuple(draw(st.permutations(["uid", *others])))
    count = draw(st.integers(min_value=1, max_value=5))
    columns: list[list[Value]] = []
    for name in names:
        column: list[Value] = [draw(KINDS[name]) for _ in range(count)]
        columns.append([f"u{n}" for n in range(count)] if name == "uid" else column)
    return names, columns


@settings(max_examples=400)
@given(plain_columns(), st.booleans())
def test_a_sqlite_table_says_of_plain_columns_what_it_says_looking(
    drawn: tuple[tuple[str, ...], list[list[Value]]], numeric: bool
) -> None:
    """A SQLite table keeps a batch of plain columns as it is exactly when it would, every
    value looked at: items holding a delimiter (or making it when joined), lists in a
    single-valued field, a numeric column among the fields."""
    names, columns = drawn
    age = "age INTEGER" if numeric else "age TEXT"
    destination = sqlite_destination(f"uid TEXT, mail TEXT, groups TEXT, tags TEXT, {age}")
    looking = destination.canonical_as_is(names, columns)
    assert destination.canonical_as_is(names, PlainColumns(columns)) == looking


@st.composite
def sql_plain_columns(draw: st.DrawFn) -> tuple[list[str], list[list[Value]]]:
    """Plain columns of the SQL tables' fields (`sql_destinations`): text, or lists of it
    in any field now and then (a single-valued one too: no batch kept as it is)."""
    names = draw(st.lists(st.sampled_from(SQL_FIELDS), unique=True, min_size=1, max_size=4))
    count = draw(st.integers(min_value=1, max_value=4))
    columns: list[list[Value]] = []
    for _ in names:
        kind = KINDS["groups"] if draw(st.integers(min_value=0, max_value=2)) == 0 else texts
        columns.append([draw(kind) for _ in range(count)])
    return names, columns


@settings(max_examples=400)
@given(sql_plain_columns())
def test_a_sql_table_says_of_plain_columns_what_it_says_looking(
    drawn: tuple[list[str], list[list[Value]]],
) -> None:
    """A PostgreSQL or MySQL table keeps a batch of plain columns as it is exactly when it
    would, every value looked at: typed columns, items holding a delimiter, lists in a
    single-valued field, text in a multi-valued one, values longer than a column's bound."""
    names, columns = drawn
    for side in sql_destinations():
        looking = side.canonical_as_is(names, columns)
        assert side.canonical_as_is(names, PlainColumns(columns)) == looking


def test_plain_columns_are_told_apart() -> None:
    """The test above compares something: plain columns of text and lists are kept as
    they are, but not an item holding its field's delimiter, nor a list where no
    delimiter is."""
    destination = sqlite_destination("uid TEXT, mail TEXT, groups TEXT, tags TEXT, age TEXT")
    names = ("uid", "groups")
    assert destination.canonical_as_is(names, PlainColumns([["a", "b"], [["g"], ["h", "i"]]]))
    assert not destination.canonical_as_is(names, PlainColumns([["a", "b"], [["g|h"], ["i"]]]))
    assert not destination.canonical_as_is(("mail",), PlainColumns([[["m"], ["n"]]]))


@settings(max_examples=300)
@given(plain_columns())
def test_creates_planned_from_plain_columns_are_those_planned_looking(
    drawn: tuple[tuple[str, ...], list[list[Value]]],
) -> None:
    """Creates planned from plain columns, their values not looked at again, are the
    creates planned from the same columns, each value looked at."""
    names, columns = drawn
    mapping = ObjectMapping(keys=["uid"], fields=[FieldMap(to=name) for name in FIELDS])
    managed = managed_fields(mapping, ())
    keys = [f"u{n}" for n in range(len(columns[0]))]
    said, looked = Spill(mapping, managed), Spill(mapping, managed)
    said.add_columns(keys, names, PlainColumns(copy.deepcopy(columns)))
    looked.add_columns(keys, names, copy.deepcopy(columns))
    assert spilled(said) == spilled(looked)
