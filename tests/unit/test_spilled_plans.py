"""A large plan's creates go to disk while it is planned (runner/planning/spill.py): the
plan read back is the very plan `plan()` gives over whole records — the same changes in
the same order, the same counts and the same hash, fed change by change — and a key two
source records share is refused the same way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.engine import plan
from core.engine.context import MappingContext
from core.engine.mapping import compile_mapping
from core.engine.phases import rank
from core.engine.plan import Plan, PlanHash, encoded_for_hash, plan_hash
from core.errors import BadInput
from schemas.jobs import ObjectMapping
from schemas.plan import Change, RecordError
from schemas.values import Record
from schemas.work import decode_batch
from services.runner import plans
from services.runner.outcomes import InBatches, shared_records
from services.runner.planning import spill
from services.runner.planning.low_memory import plan_lean
from services.runner.planning.source import SourceMapper

MAPPING = msgspec.convert(
    {
        "keys": ["uid"],
        "on_destination_only": "delete",
        "case_insensitive": True,
        "container_from": "ou",
        "fields": [
            {"to": "uid"},
            {"to": "mail"},
            {"to": "phone", "policy": "keep"},
            {"to": "groups", "delimiter": ";", "policy": "merge"},
        ],
        "leavers": {"when": {"field": "status", "equals": "gone"}, "new": "create"},
    },
    ObjectMapping,
)
CONTEXT = MappingContext(job_id="j", run_id="r", now=datetime(2026, 12, 6, tzinfo=UTC))


def create(n: int) -> Change:
    return Change(action="create", key=f"u{n}", match={"uid": f"u{n}"}, set={"n": str(n)})


@pytest.mark.parametrize("count", [0, 1, 15, 16, 65_535, 65_536, 70_000])
def test_the_hash_fed_change_by_change_is_the_hash_of_the_list(count: int) -> None:
    changes = [create(n) for n in range(count)]
    fed = PlanHash(count)
    for change in changes:
        fed.update(encoded_for_hash(change))
    assert fed.hexdigest() == plan_hash(changes)


class Destination:
    """A destination read as often as the planner asks."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records

    reads = 0

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        self.reads += 1
        for at in range(0, len(self.records), 2):
            yield [dict(r) for r in self.records[at : at + 2]]


PLAIN = msgspec.convert(
    {
        "keys": ["uid"],
        "on_destination_only": "delete",
        "fields": [{"to": "uid"}, {"to": "mail"}, {"to": "groups", "delimiter": ";"}],
    },
    ObjectMapping,
)
"""A job whose creates take the quick way (spill.py `quick_creates`)."""


def mapper(mapping: ObjectMapping = MAPPING) -> SourceMapper:
    return SourceMapper(compile_mapping(mapping, CONTEXT), lambda record: record, mapping)


async def batches(records: list[Record]) -> AsyncIterator[list[Record]]:
    for at in range(0, len(records), 3):
        yield [dict(r) for r in records[at : at + 3]]


def lean(
    source: list[Record], destination: list[Record], absent: bool, mapping: ObjectMapping = MAPPING
) -> Plan:
    found = asyncio.run(
        plan_lean(
            mapping,
            Destination(destination),  # type: ignore[arg-type]
            batches(source),
            mapper(mapping),
            act_on_absence=lambda: absent,
            lifecycle=None,
        )
    )
    return found[0]


def expected(
    source: list[Record], destination: list[Record], absent: bool, mapping: ObjectMapping = MAPPING
) -> Plan:
    mapped = mapper(mapping).map([dict(r) for r in source])
    managed = tuple(field.to for field in mapping.fields)
    return plan(mapped, destination, mapping, managed, act_on_absence=absent)


values = st.sampled_from(["", "a", "b", " a"])
sources = st.builds(
    lambda uid, mail, groups, status, ou: {
        "uid": uid,
        "mail": mail,
        "phone": "",
        "groups": groups,
        "status": status,
        "ou": ou,
    },
    uid=st.sampled_from([f"u{n}" for n in range(12)] + ["U1", ""]),
    mail=values,
    groups=st.sampled_from(["", "x", "x;y"]),
    status=st.sampled_from(["", "", "", "gone"]),
    ou=st.sampled_from(["", "ou=a", "ou=b"]),
)
destinations = st.builds(
    lambda uid, mail, groups: {"uid": uid, "mail": mail, "groups": groups},
    uid=st.sampled_from([f"u{n}" for n in range(0, 12, 2)] + [""]),
    mail=values,
    groups=st.sampled_from([None, ["x"], ["y", "x"]]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(sources, max_size=14),
    st.lists(destinations, max_size=6),
    st.booleans(),
    st.sampled_from([1, 2, 50_000]),
    st.sampled_from([MAPPING, PLAIN]),
)
def test_a_plan_with_spilled_creates_is_the_plan(
    source: list[Record],
    destination: list[Record],
    absent: bool,
    run_size: int,
    mapping: ObjectMapping,
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(spill, "RUN_SIZE", run_size)  # 1, 2: every create goes to disk
        try:
            wanted = expected(source, destination, absent, mapping)
        except BadInput as refused:  # a key twice, or no key at all: refused the same way
            with pytest.raises(type(refused)):
                lean(source, destination, absent, mapping)
            return
        got = lean(source, destination, absent, mapping)
    assert got.hash == wanted.hash
    assert list(got.changes) == list(wanted.changes)
    assert len(got.changes) == len(wanted.changes)
    assert got.counts == wanted.counts
    assert sorted(got.warnings) == sorted(wanted.warnings)


def test_a_plan_on_disk_is_read_again_as_often_as_asked(monkeypatch: Any) -> None:
    monkeypatch.setattr(spill, "RUN_SIZE", 3)
    source: list[Record] = [{"uid": f"u{n}", "mail": f"m{n}"} for n in (5, 1, 9, 3, 7, 2, 8)]
    got = lean(source, [{"uid": "u4", "mail": "m4"}], True)
    assert isinstance(got.changes, spill.SpilledPlan), "the creates went to disk"
    keys = [change.key for change in got.changes]
    assert keys == ["u1", "u2", "u3", "u5", "u7", "u8", "u9", "u4"]  # creates, then delete
    assert [change.key for change in got.changes] == keys
    assert got.changes[1].key == "u2" and [c.key for c in got.changes[-2:]] == ["u9", "u4"]
    assert got.hash == plan_hash(list(got.changes))


def test_a_key_twice_among_the_creates_on_disk_is_refused(monkeypatch: Any) -> None:
    monkeypatch.setattr(spill, "RUN_SIZE", 2)
    source: list[Record] = [{"uid": f"u{n}", "mail": "m"} for n in (1, 2, 3, 4, 5)]
    source.append({"uid": "U3"})
    with pytest.raises(BadInput, match=r"u3|U3"):
        lean(source, [], True)


texts = st.text(alphabet=st.sampled_from(["a", "A", "b", "\x00", "\x01", "\x02", " ", "é"]))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["create", "update", "delete", "move"]),
            st.sampled_from(["user", "group", "us"]),
            st.one_of(texts, st.sampled_from(["uid=a,ou=x", "uid=a,ou=x,dc=y", "ou=x"])),
            texts,
        ),
        max_size=8,
    )
)
def test_the_order_of_a_change_sorts_as_its_rank_and_key(
    items: list[tuple[str, str, str, str]],
) -> None:
    placed = [
        (Change(action=action, key=shown, match={}, object_type=kind), key)  # type: ignore[arg-type]
        for action, kind, shown, key in items
    ]
    by_rank = sorted(placed, key=lambda item: (rank(item[0]), item[1]))
    by_order = sorted(placed, key=lambda item: spill.order(*item))
    assert [(rank(c), k) for c, k in by_order] == [(rank(c), k) for c, k in by_rank]
    for change, key in placed:
        assert spill.identity_of_order(spill.order(change, key)) == (
            change.object_type,
            change.key,
        )


def test_the_batches_of_a_plan_on_disk_are_its_changes_encoded_once(monkeypatch: Any) -> None:
    monkeypatch.setattr(spill, "RUN_SIZE", 4)
    source: list[Record] = [{"uid": f"u{n:02d}", "mail": f"m{n}"} for n in range(30, 0, -1)]
    destination: list[Record] = [{"uid": f"u{n:02d}", "mail": "old"} for n in (3, 40, 41)]
    got = lean(source, destination, True)
    assert isinstance(got.changes, spill.SpilledPlan)
    batched = plans.Batched(got.changes, 7)
    messages = list(batched.encoded("r", "j", got.hash, {}))
    batches = [decode_batch(data) for _, data, _ in messages]
    assert [change for batch in batches for change in batch.changes] == list(got.changes)
    assert [batch.number for batch in batches] == list(range(1, len(batches) + 1))
    # creates and updates (one phase), then deletes: never two phases in one batch
    assert [b.phase for b in batches] == [0, 0, 0, 0, 0, 1]
    assert [len(b.changes) for b in batches] == [7, 7, 7, 7, 2, 2]
    assert [changes for _, _, changes in batched] == [b.changes for b in batches]


def test_records_shared_by_batches_are_found_in_a_plan_on_disk(monkeypatch: Any) -> None:
    monkeypatch.setattr(spill, "RUN_SIZE", 2)
    source: list[Record] = [{"uid": f"u{n}", "mail": "m"} for n in range(1, 9)]
    got = lean(source, [], True)
    errors = [
        RecordError(key="u3", action="map", message="no", object_type="user"),
        RecordError(key="u7", action="map", message="no", object_type="user"),
    ]
    on_disk = plans.Batched(got.changes, 3)
    held = InBatches([changes for _, _, changes in plans.Batched(list(got.changes), 3)])
    assert shared_records(on_disk, errors) == shared_records(held, errors)
    assert shared_records(on_disk, errors)[0], "u3 and u7 are shared records"


def test_a_run_goes_to_disk_only_when_more_creates_follow(monkeypatch: Any) -> None:
    """A plan of RUN_SIZE creates is merged from memory; one more sends those to disk."""
    monkeypatch.setattr(spill, "RUN_SIZE", 3)
    for count, runs in ((3, 0), (4, 1), (7, 2)):
        source: list[Record] = [{"uid": f"u{n}", "mail": "m"} for n in range(count)]
        held = spill.Spill(PLAIN, ("uid", "mail", "groups"))
        for record in mapper(PLAIN).map(source):
            held.add(str(record["uid"]), record)
        assert len(held._runs) == runs
        changes, _ = spill.settle(held, [], PLAIN, set())
        assert [change.key for change in changes] == [f"u{n}" for n in range(count)]
        assert held.counts.create == held.entries == count
    got = lean([{"uid": f"u{n}", "mail": "m"} for n in range(3)], [], True, PLAIN)
    assert got == expected([{"uid": f"u{n}", "mail": "m"} for n in range(3)], [], True, PLAIN)


@pytest.mark.parametrize(
    ("change", "reads"),
    [
        ("nothing", 1),  # every record unchanged: nothing for plan() to read again
        ("a mail", 2),  # an update: plan() needs the destination's record
        ("one gone", 2),  # a destination record no source record matched: absent
        ("a keyless row", 2),  # a destination record without a key: reported
    ],
)
def test_the_destination_is_read_again_only_when_the_plan_needs_some_of_it(
    change: str, reads: int
) -> None:
    people: list[Record] = [
        {"uid": f"u{n}", "mail": f"u{n}@example.org", "groups": ["x"]} for n in range(9)
    ]
    source: list[Record] = [{**p, "groups": "x"} for p in people]
    destination: list[Record] = [dict(p) for p in people]
    if change == "a mail":
        source[4]["mail"] = "moved@example.org"
    elif change == "one gone":
        source.pop(4)
    elif change == "a keyless row":
        destination.append({"mail": "nobody@example.org"})
    read = Destination(destination)
    got = asyncio.run(
        plan_lean(
            MAPPING,
            read,  # type: ignore[arg-type]
            batches(source),
            mapper(),
            act_on_absence=lambda: True,
            lifecycle=None,
        )
    )[0]
    wanted = expected(source, destination, True)
    assert read.reads == reads
    assert (got.hash, got.counts) == (wanted.hash, wanted.counts)
    assert list(got.changes) == list(wanted.changes)
