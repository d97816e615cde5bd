"""Incremental runs: how change values compare, what CSV and SQLite read, which runs are
incremental, and what check_job refuses."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from core.checks.incremental import changed_only_refusal
from core.checks.job import check_job
from core.errors import BadInput
from schemas.connections import (
    ActiveDirectoryConnection,
    Connection,
    CsvConnection,
    LdapConnection,
    PluginConnection,
    SqliteConnection,
)
from schemas.jobs import Changes, Endpoint, Job, ObjectMapping, ObjectScope
from schemas.values import Record
from services.common.watermarks import Watermark, source_of
from services.providers import FACTS, changes
from services.providers.base import ChangeReader, Layout
from services.providers.changes import FieldChanges, compare, kind_of
from services.providers.csv.provider import CsvProvider
from services.providers.sqlite.provider import SqliteProvider
from services.runner.planning.reading import choose

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LDAP = "%Y%m%d%H%M%S%z"


@pytest.mark.parametrize(
    ("a", "b", "order"),
    [
        ("9", "10", -1),  # numbers as numbers, not as text
        ("10.5", "10.25", 1),
        ("007", "7", 0),
        ("2026-11-21T10:00:00Z", "2026-11-21T09:59:59Z", 1),
        ("2026-11-21T10:00:00.25Z", "2026-11-21T10:00:00Z", 1),  # as text: "." < "Z"
        ("2026-10-25T01:15:00+01:00", "2026-10-25T01:30:00+02:00", 1),  # summer time ends
        ("2026-11-21T11:00:00+01:00", "2026-11-21T10:00:00Z", 0),  # one moment
        ("2026-11-21T10:00:00", "2026-11-21T10:00:00Z", 0),  # no zone: UTC
        ("20261121103000Z", "2026-11-21T10:00:00Z", 1),  # LDAP's and ISO's
        ("2026112111+0100", "20261121100000Z", 0),
        ("20261121100000.5Z", "20261121100000Z", 1),
        ("20261121100000Z", "20261121100000Z", 0),  # LDAP generalized time
        ("b", "a", 1),
        ("10", "9a", -1),  # one is not a number: as text
    ],
)
def test_change_values_compare_as_numbers_else_as_text(a: str, b: str, order: int) -> None:
    assert compare(a, b) == order


def reference_order(a: str, b: str) -> int:
    """How change values compare, said plainly: numbers when `Decimal` takes both as
    finite numbers, moments when both are timestamps, else text."""

    def number(text: str) -> Decimal | None:
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            return None
        return value if value.is_finite() else None

    def moment(text: str) -> datetime | None:
        iso = text[4:5] == "-" and text[:4].isdigit()  # else fromisoformat takes LDAP's wrong
        try:
            at = datetime.fromisoformat(text) if iso else datetime.strptime(text, LDAP)
        except ValueError:
            return None
        return at if at.tzinfo else at.replace(tzinfo=UTC)

    x, y = number(a), number(b)
    if x is not None and y is not None:
        return (x > y) - (x < y)
    s, t = moment(a), moment(b)
    if s is not None and t is not None:
        return (s > t) - (s < t)
    return (a > b) - (a < b)


CHANGE_VALUES = st.lists(
    st.sampled_from(["0", "7", "٣", "1", "_", ".", "e", "E", "+", "-", " ", "T", ":", "Z", "inf"]),
    max_size=6,
).map("".join) | st.sampled_from(
    [
        "NaN",
        "Infinity",
        "1e5",
        "1_000",
        "2026-11-21T10:00:00Z",
        "2026-11-21T10:00:00.25Z",
        "2026-11-21T11:00:00+01:00",
        "2026-11-21T10:00:00",
        "2026-11-21T10:00:00+00:00",  # UTC spelled as an offset
        "2026-11-21 09:00:00-01:00",
        "2026-11-21T10:00:00.000001Z",
        "2026-11-21",
        "20261121100000Z",
        "20261121103000Z",
    ]
)


@given(CHANGE_VALUES, CHANGE_VALUES)
@example("1_000", "7")  # a number with underscores (Decimal takes them)
@example("٣", "10")  # a number in other digits
@example("2026-11-21T10:00:00Z", "9")
def test_change_values_compare_as_decimal_takes_them(a: str, b: str) -> None:
    assert compare(a, b) == reference_order(a, b)


@given(st.one_of(st.none(), CHANGE_VALUES), st.lists(CHANGE_VALUES, max_size=8))
def test_what_is_read_and_the_watermark_follow_how_values_compare(
    since: str | None, values: list[str]
) -> None:
    changes = FieldChanges("n", since)
    kept = [changes.wanted({"n": value}) for value in values]
    if since is not None and kind_of(since) is None:
        since = None  # a stored watermark of neither kind: ignored, every record read
    kinds = [kind_of(v) for v in values if v and kind_of(v)]
    kind = kind_of(since) if since else max(kinds, key=kinds.count) if kinds else None
    assert kept == [
        not v or kind_of(v) != kind or since is None or reference_order(v, since) >= 0
        for v in values
    ]
    highest = None
    for value in [v for v in values if v and kind is not None and kind_of(v) == kind]:
        if highest is None or reference_order(value, highest) > 0:
            highest = value
    if highest is None or (since is not None and reference_order(highest, since) < 0):
        highest = since
    assert changes.watermark() == highest


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("2026-11-21T10:00:00Z", "timestamp"),
        ("2026-11-21 10:00:00+01:00", "timestamp"),
        ("2026-11-21", "timestamp"),
        ("20261121100000Z", "timestamp"),  # LDAP generalized time
        ("20261121100000.0Z", "timestamp"),
        ("42", "number"),
        ("20261121", "number"),  # digits alone: a counter
        ("1.5", "number"),
        ("N/A", None),
        ("2026-13-45", None),
        ("2026-02-30T10:00:00Z", None),
        ("yesterday", None),
        ("NaN", None),
    ],
)
def test_a_change_value_is_a_number_a_timestamp_or_neither(text: str, kind: str | None) -> None:
    assert kind_of(text) == kind


STAMPS = ["2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z"]


@pytest.mark.parametrize("odd", ["N/A", "2026-13-45", "yesterday", "99"])
def test_a_value_not_of_the_fields_kind_is_read_and_never_the_watermark(odd: str) -> None:
    full = FieldChanges("modified_at", None)
    for key, value in [("e1", STAMPS[0]), ("e7", odd), ("e2", STAMPS[1])]:
        assert full.wanted({"id": key, "modified_at": value})
    assert full.watermark() == STAMPS[1]
    kind = "a timestamp" if odd == "99" else "a timestamp or a number"
    assert full.warnings == [
        f"changes value {odd!r} of record 'e7' is not {kind}: read as changed, "
        "not used as the watermark"
    ]
    later = FieldChanges("modified_at", STAMPS[1])
    kept = [later.wanted({"id": "e7", "modified_at": v}) for v in (odd, STAMPS[0], STAMPS[1])]
    assert kept == [True, False, True]
    assert later.watermark() == STAMPS[1]
    assert later.fell_back() is None


def test_a_stored_watermark_of_neither_kind_is_ignored_and_every_record_read() -> None:
    changes = FieldChanges("modified_at", "N/A")
    assert all(changes.wanted({"modified_at": v}) for v in STAMPS)
    assert changes.watermark() == STAMPS[1]
    assert changes.fell_back() == (
        "the stored watermark 'N/A' of changes field 'modified_at' is neither a timestamp "
        "nor a number: ignored, every record read"
    )


def test_records_at_or_after_the_watermark_and_those_without_a_value_are_read() -> None:
    changes = FieldChanges("modified_at", "5")
    kept = [changes.wanted({"modified_at": v}) for v in ("4", "5", "12", "")]
    assert kept == [False, True, True, True]
    assert changes.watermark() == "12"


def test_the_watermark_never_goes_back() -> None:
    changes = FieldChanges("n", "50")
    assert not changes.wanted({"n": "7"})
    assert changes.watermark() == "50"
    assert FieldChanges("n", None).watermark() is None


ROWS = "id;name;modified_at\n1;Ada;3\n2;Bob;10\n3;Cy;7\n"


async def read_all(reader: ChangeReader, since: str | None, field: str) -> list[Record]:
    return [r async for batch in reader.read_changed(2, since, field) for r in batch]


async def test_csv_reads_only_rows_changed_since_the_watermark(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(ROWS)
    csv = CsvProvider(
        CsvConnection(directory=str(tmp_path), delimiter=";"),
        Endpoint(connection="hr", file="people.csv"),
        Layout(),
    )
    await csv.open(write=False)
    assert isinstance(csv, ChangeReader)
    assert [r["id"] for r in await read_all(csv, "7", "modified_at")] == ["2", "3"]
    assert csv.watermark() == "10"
    assert len(await read_all(csv, None, "modified_at")) == 3  # a full run learns it too
    with pytest.raises(BadInput, match=r"set the job's changes\.field"):
        csv.read_changed(10, None, None)


async def test_sqlite_compares_an_integer_column_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "hr.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE people (id TEXT, name TEXT, version INTEGER)")
        db.executemany("INSERT INTO people VALUES (?, ?, ?)", [("1", "Ada", 9), ("2", "Bob", 10)])
    provider = SqliteProvider(
        SqliteConnection(path=str(path)), Endpoint(connection="db", table="people"), Layout()
    )
    await provider.open(write=False)
    try:
        assert [r["id"] for r in await read_all(provider, "10", "version")] == ["2"]
        assert provider.watermark() == "10"
    finally:
        await provider.close()


DAILY = Changes(field="modified_at", full_every="1d")


def job(changes: Changes | None = DAILY) -> Job:
    return Job(
        id="hr",
        source=Endpoint(connection="hr", file="people.csv"),
        destination=Endpoint(connection="db", table="people"),
        objects=[ObjectMapping(keys=["id"])],
        changes=changes,
    )


def mark(value: str, full_hours_ago: float | None, field: str = "modified_at") -> Watermark:
    full_at = None if full_hours_ago is None else NOW - timedelta(hours=full_hours_ago)
    return Watermark(field=field, value=value, full_at=full_at)


@pytest.mark.parametrize(
    ("changed_only", "trigger", "watermark", "expected"),
    [
        (True, "manual", mark("42", 1), (True, "42")),
        (False, "manual", mark("42", 1), (False, None)),  # people's runs are full unless asked
        (False, "schedule", mark("42", 1), (True, "42")),  # between full runs
        (False, "schedule", mark("42", 25), (False, None)),  # a full run is due
        (False, "schedule", None, (False, None)),  # never a full run yet
        (True, "manual", None, (True, None)),  # no watermark yet: every record, no absence
        (True, "manual", mark("42", 1, field="updated"), (True, None)),  # another field
    ],
)
def test_which_runs_are_incremental(
    changed_only: bool, trigger: str, watermark: Watermark | None, expected: tuple[bool, str | None]
) -> None:
    assert choose(job(), changed_only, trigger, watermark, NOW) == expected


def test_a_watermark_is_not_read_from_when_a_types_own_source_changed() -> None:
    """A type read from its own file (`[objects.source]`): the watermark was read from
    that file (with that `where`), so a job whose type names another file, or another
    `where`, reads every record of it, as a job given another source does."""

    def of_two(groups: str, where: dict[str, str] | None = None) -> Job:
        users = ObjectMapping(keys=["id"])
        own = ObjectScope(file=groups, where=where)
        teams = ObjectMapping(type="group", keys=["id"], source=own)
        return msgspec.structs.replace(job(), objects=[users, teams])

    before = of_two("groups.csv")
    since = '{"group":"4","user":"4"}'
    read = Watermark(field="modified_at", value=since, source=source_of(before))
    assert choose(before, True, "manual", read, NOW) == (True, since)
    assert choose(of_two("teams.csv"), True, "manual", read, NOW) == (True, None)
    # Records its `where` now lets in may be older than the watermark: read whole too.
    wider = of_two("groups.csv", {"field": "kind", "equals": "team"})
    assert choose(wider, True, "manual", read, NOW) == (True, None)
    # A job whose types have no source of their own: told apart by its source alone.
    assert source_of(job()) == source_of(msgspec.structs.replace(job(), id="other"))


def test_changed_only_on_a_job_without_changes_says_what_to_add() -> None:
    with pytest.raises(BadInput, match=r"add changes = \{ field = "):
        choose(job(None), True, "manual", None, NOW)


@pytest.mark.parametrize(
    ("source", "advice"),
    [
        (CsvConnection(id="hr", directory="/data"), 'add changes = { field = "modified_at" }'),
        (SqliteConnection(id="hr", path="/db"), 'add changes = { field = "modified_at" }'),
        (LdapConnection(id="hr", urls=["ldap://x"]), 'add changes = { full_every = "1d" }: ldap'),
        (
            ActiveDirectoryConnection(id="hr", urls=["ldaps://x"]),
            'add changes = { full_every = "1d" }: ad marks what changed itself',
        ),
    ],
)
def test_changed_only_is_refused_in_words_that_fit_the_source(
    source: Connection, advice: str
) -> None:
    refused = changed_only_refusal(job(None), source, FACTS)
    assert refused is not None and advice in refused
    assert refused.startswith("job hr says nothing about changes, so it cannot run --changed-only")
    assert changed_only_refusal(job(), source, FACTS) is None
    if isinstance(source, LdapConnection):  # AD too: no field to name
        assert "modified_at" not in refused


def test_check_job_refuses_what_cannot_work() -> None:
    connections: dict[str, Connection] = {
        "hr": CsvConnection(id="hr", directory="/data"),
        "db": SqliteConnection(id="db", path="/data/db.sqlite"),
    }
    bad = Job(
        id="hr",
        source=Endpoint(connection="hr", file="people.csv"),
        destination=Endpoint(connection="db", table="people"),
        objects=[ObjectMapping(keys=["id"], delete_after="soon", restore=True)],
        changes=Changes(full_every="never"),
    )
    with pytest.raises(BadInput) as refused:
        check_job(bad, connections, FACTS)
    text = str(refused.value)
    assert "$.changes.field: expected the source field holding a timestamp" in text
    assert "$.changes.full_every: expected an interval" in text
    assert "$.objects[0].delete_after: expected an interval" in text
    assert '$.objects[0].on_destination_only: expected "disable" or "move"' in text


def test_check_job_accepts_a_lifecycle_on_a_destination_that_disables_and_enables() -> None:
    connections: dict[str, Connection] = {
        "hr": CsvConnection(id="hr", directory="/data"),
        "dir": PluginConnection(
            id="dir",
            factory="tests.plugins.lifecycle:LifecycleProvider",
            actions=["create", "update", "delete", "disable", "enable"],
        ),
    }
    good = Job(
        id="hr",
        source=Endpoint(connection="hr", file="people.csv"),
        destination=Endpoint(connection="dir"),
        objects=[
            ObjectMapping(
                keys=["id"], on_destination_only="disable", delete_after="30d", restore=True
            )
        ],
        changes=Changes(field="modified_at", full_every="1d"),
    )
    check_job(good, connections, FACTS)
    cannot = PluginConnection(id="dir", factory="x:y", actions=["create", "update", "disable"])
    with pytest.raises(BadInput) as refused:
        check_job(good, {**connections, "dir": cannot}, FACTS)
    assert "$.objects[0].delete_after: destination dir (plugin) cannot delete" in str(refused.value)
    assert "$.objects[0].restore: destination dir (plugin) cannot enable" in str(refused.value)


@pytest.mark.parametrize(
    "value", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00", "99991231230000-0500"]
)
def test_a_timestamp_past_the_days_python_holds_is_read_as_changed(value: str) -> None:
    # In UTC it falls after 9999-12-31 (or before year 1): the read failed with
    # "OverflowError: date value out of range". Read as changed, never the watermark.
    changes = FieldChanges("modified", "2026-01-01T00:00:00Z")
    assert kind_of(value) == "timestamp"
    assert changes.wanted({"id": "e1", "modified": value}) == value.startswith("9999")
    assert changes.wanted({"id": "e2", "modified": "2026-02-01T00:00:00Z"})
    assert changes.watermark() == "2026-02-01T00:00:00Z"


@given(
    st.one_of(
        st.text(alphabet="0123456789-+.eE_ :TZ", max_size=24),
        st.from_regex(r"\d{4}-[0-9eE_+.\-]{0,8}", fullmatch=True),
        st.text(max_size=12),
    )
)
@example("2026-01-02T03:04:05Z")
@example("2026-1e-5")
def test_a_value_starting_as_a_date_is_read_as_it_was(text: str) -> None:
    """A value starting as a date does ("2026-") is taken as a timestamp or nothing without
    trying it as a number first: what it is read as is what it was."""
    number = changes._number(text)
    assert changes._value(text) == (text, number if number is not None else changes._moment(text))


MOMENTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)
UTC_STAMPS = st.one_of(
    MOMENTS.map(lambda m: m.strftime("%Y-%m-%dT%H:%M:%SZ")),  # the common case
    MOMENTS.map(lambda m: m.isoformat()),  # "+00:00", fractions
    MOMENTS.map(lambda m: m.replace(tzinfo=None).isoformat(sep=" ")),  # no zone
)
BATCH_VALUES = st.one_of(
    UTC_STAMPS,
    st.sampled_from(["", "N/A", "2026-13-45", "9999-12-31T23:59:59Z", "2026-11-21T11:00:00+01:00"]),
    CHANGE_VALUES,
)


@given(
    st.sampled_from([None, "2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00", "7"]),
    st.lists(st.lists(st.one_of(UTC_STAMPS, UTC_STAMPS, BATCH_VALUES), max_size=6), max_size=4),
)
@example("2026-01-01T00:00:00Z", [["2026-06-01T00:00:00Z", "2025-06-01T00:00:00Z"]])
@example("2026-01-01T00:00:00Z", [["2026-01-01T00:00:00Z", "2026-01-01T00:00:00+00:00"]])
@example("2026-01-01T00:00:00Z", [["2026-06-01 00:00:00", "2025-06-01 00:00:00"]])
@example("2026-01-01T00:00:00Z", [["2026-06-01T00:00:00Z", "2026-06-01T00:00:00.000Z"]])
@example("2026-01-01T00:00:00Z", [["2026-06-01T00:00:00Z"], ["2026-06-01T00:00:00+00:00"]])
def test_a_batch_of_change_values_is_read_as_its_values_one_by_one(
    since: str | None, batches: list[list[str]]
) -> None:
    """A batch decided at once (UTC timestamps, an incremental read's common case) keeps
    the records, and gives the watermark and the warnings, that one value at a time does."""
    at_once, one_by_one = FieldChanges("m", since), FieldChanges("m", since)
    for batch in batches:
        rows = [[f"e{at}", value] for at, value in enumerate(batch)]
        kept = at_once.wanted_values(batch, rows)
        assert kept == [
            one_by_one.wanted_value(v or None, r) for v, r in zip(batch, rows, strict=True)
        ]
    assert at_once.watermark() == one_by_one.watermark()
    assert at_once.warnings == one_by_one.warnings
