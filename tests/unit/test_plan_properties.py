"""Properties of planning that must hold for any records and any job.

Keys come from a small alphabet with case, spacing and Unicode variants of the same
names, so matches, near-matches, duplicates and empty keys happen often. Every field
map draws a policy (force, keep, merge), and jobs draw containers and move targets.
"""

from __future__ import annotations

import copy
import random
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from core.engine import (
    PHASES,
    apply_to,
    managed_fields,
    map_record,
    match_key,
    phase_of,
    plan,
    split_batches,
    with_container,
)
from core.engine.batching import change_size
from core.engine.containers import CONTAINER_FIELD, same_container
from core.engine.mapping import present
from core.engine.transforms import RecordFailed
from schemas.jobs import FieldMap, ObjectMapping, Policy
from schemas.plan import Change
from schemas.values import Binary, Record, Value

JOSE = "José"
KEY_VALUES = [
    "alice",
    "Alice",
    " alice ",
    "bob",
    "BOB",
    unicodedata.normalize("NFC", JOSE),
    unicodedata.normalize("NFD", JOSE),
    "",
    "  ",
]
FIELDS = ("mail", "groups", "note", "password")
CONTAINERS = [None, "ou=People,dc=example,dc=org", "ou=Sales\\, Paris,dc=example,dc=org"]
PLACES = [
    *CONTAINERS[1:],
    "OU=people , DC=Example,DC=org",
    "ou=Sales\\2C  Paris,dc=example,dc=org",
    "ou=Former,dc=example,dc=org",
]
"""Where a destination says an object is: the containers in other spellings, and another."""
POLICIES: list[Policy] = ["force", "keep", "merge"]
policies = st.sampled_from(POLICIES)
Job = tuple[ObjectMapping, list[Record], list[Record], bool]
"""A mapping, its mapped source, a destination, and whether the run acts on absence."""

texts = st.sampled_from(["", "x", "X", "x ", "é", unicodedata.normalize("NFD", "é")])
values: st.SearchStrategy[Value] = st.one_of(
    texts,
    st.lists(texts, max_size=3),
    st.builds(Binary, st.sampled_from([b"", b"\x00", b"\xff"])),
)
keys: st.SearchStrategy[Value] = st.one_of(
    st.sampled_from(KEY_VALUES),
    st.lists(st.sampled_from(KEY_VALUES), min_size=1, max_size=2),
)
records: st.SearchStrategy[Record] = st.fixed_dictionaries(
    {},
    optional={"uid": keys, "ou": st.sampled_from(CONTAINERS[1:]), **dict.fromkeys(FIELDS, values)},
)
field_maps = st.tuples(
    policies,
    st.lists(
        st.builds(
            FieldMap,
            to=st.sampled_from(FIELDS),
            create_only=st.booleans(),
            delimiter=st.sampled_from([None, ";"]),
            policy=policies,
        ),
        max_size=4,
    ),
).map(lambda drawn: [FieldMap(to="uid", policy=drawn[0]), *drawn[1]])
mappings = st.builds(
    ObjectMapping,
    keys=st.just(["uid"]),
    case_insensitive=st.booleans(),
    on_source_only=st.sampled_from(["create", "skip"]),
    on_both=st.sampled_from(["update", "skip"]),
    on_destination_only=st.sampled_from(["delete", "disable", "move", "skip"]),
    fields=st.one_of(st.just([]), field_maps),
    container=st.sampled_from(CONTAINERS),
    container_from=st.sampled_from([None, "ou"]),
    move_to=st.sampled_from(CONTAINERS),
)


def unique_keys(records: list[Record], mapping: ObjectMapping) -> list[Record]:
    """The records, without those whose key an earlier record already has (a valid source)."""
    seen: set[str] = set()
    kept: list[Record] = []
    for record in records:
        key = match_key(record, mapping.keys, mapping.case_insensitive)
        if key is None or key not in seen:
            kept.append(record)
        if key is not None:
            seen.add(key)
    return kept


def managed_of(mapping: ObjectMapping) -> tuple[str, ...]:
    return managed_fields(mapping, ["uid", "ou", *FIELDS])


def mapped(records: list[Record], mapping: ObjectMapping) -> list[Record]:
    """Source records as the runner hands them to the planner (with their containers),
    without those it reports as failed (several values for a field without a delimiter)."""
    shaped: list[Record] = []
    for record in records:
        try:
            shaped.append(with_container(map_record(record, mapping), record, mapping))
        except RecordFailed:
            continue
    return shaped


@st.composite
def any_jobs(draw: st.DrawFn) -> Job:
    """A mapping, a valid mapped source, any destination, and whether the run sees absence."""
    mapping = draw(mappings)
    source = mapped(draw(st.lists(records, max_size=8)), mapping)
    source = unique_keys(source, mapping)
    if all(match_key(r, mapping.keys, mapping.case_insensitive) is None for r in source):
        source = []  # a source none of whose records has a key is refused (test_plan.py)
    destination = [placed(draw, record) for record in draw(st.lists(records, max_size=8))]
    return mapping, source, destination, draw(st.booleans())


def placed(draw: st.DrawFn, record: Record) -> Record:
    """A destination record, saying (or not) the container its object is in."""
    where = draw(st.sampled_from([None, *PLACES]))
    return record if where is None else {**record, CONTAINER_FIELD: where}


@st.composite
def policy_jobs(draw: st.DrawFn) -> Job:
    """Every field mapped with a drawn policy, and mostly the same objects on both sides,
    so that keeping, merging and forcing values over existing ones happen often."""
    fields = [FieldMap(to="uid", policy=draw(policies))]
    for name in FIELDS:
        delimiter = draw(st.sampled_from([None, ";"]))
        fields.append(FieldMap(to=name, policy=draw(policies), delimiter=delimiter))
    mapping = ObjectMapping(
        keys=["uid"],
        fields=fields,
        case_insensitive=draw(st.booleans()),
        on_destination_only=draw(st.sampled_from(["delete", "disable", "move", "skip"])),
        move_to=draw(st.sampled_from(CONTAINERS)),
        container_from=draw(st.sampled_from([None, "ou"])),
    )
    names = st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4)
    destination = [placed(draw, {**draw(records), "uid": uid}) for uid in draw(names)]
    source = mapped([{**draw(records), "uid": uid} for uid in draw(names)], mapping)
    return mapping, source, destination, draw(st.booleans())


jobs = st.one_of(any_jobs(), policy_jobs())


@given(mappings, st.lists(records, max_size=8), st.booleans())
def test_a_destination_planned_against_itself_needs_no_changes(
    mapping: ObjectMapping, destination: list[Record], act_on_absence: bool
) -> None:
    destination = unique_keys(destination, mapping)
    result = plan(
        destination, destination, mapping, managed_of(mapping), act_on_absence=act_on_absence
    )
    assert result.changes == []
    assert result.counts.changes == 0


@given(jobs)
def test_applying_a_plan_then_planning_again_changes_nothing_more(
    job: Job,
) -> None:
    mapping, source, destination, act = job
    managed = managed_of(mapping)
    first = plan(source, destination, mapping, managed, act_on_absence=act)
    applied = apply_to(destination, first.changes, mapping.keys, mapping.case_insensitive)
    second = plan(source, applied, mapping, managed, act_on_absence=act)

    # Disable and move leave the object in place (apply_to cannot model their effect),
    # so exactly those are planned again; everything else is done. The simulation gives
    # its records back normalized (" alice " as "alice"), so an object planned again is
    # the same one as keys compare it, named in that spelling.
    def again(changes: list[Change]) -> list[tuple[str, str | None, str | None]]:
        return [
            (c.action, match_key(c.match, mapping.keys, mapping.case_insensitive), c.container)
            for c in changes
        ]

    assert again(list(second.changes)) == again(
        [c for c in first.changes if c.action in ("disable", "move")]
    )


@given(jobs)
def test_inputs_are_never_mutated(
    job: Job,
) -> None:
    mapping, source, destination, act = job
    saved = copy.deepcopy((source, destination, mapping))
    shaped = mapped(source, mapping)
    result = plan(shaped, destination, mapping, managed_of(mapping), act_on_absence=act)
    apply_to(destination, result.changes, mapping.keys, mapping.case_insensitive)
    apply_to(source, result.changes, mapping.keys, mapping.case_insensitive)
    split_batches(result.changes, 2, 10_000)
    assert (source, destination, mapping) == saved


@given(jobs, st.integers(min_value=1, max_value=4), st.integers(min_value=0, max_value=400))
def test_applying_batch_by_batch_equals_applying_the_whole_plan(
    job: Job, max_changes: int, slack: int
) -> None:
    mapping, source, destination, act = job
    result = plan(source, destination, mapping, managed_of(mapping), act_on_absence=act)
    max_bytes = max((change_size(c) for c in result.changes), default=1) + slack
    batches = split_batches(result.changes, max_changes, max_bytes)
    assert [c for batch in batches for c in batch] == result.changes
    assert all(len({phase_of(c) for c in batch}) == 1 for batch in batches)
    # Phases come in order, and each phase's batches follow each other.
    phases = [phase_of(batch[0]) for batch in batches]
    assert phases == sorted(phases, key=PHASES.index)
    state = apply_to(destination, [], mapping.keys, mapping.case_insensitive)
    for batch in batches:
        state = apply_to(state, batch, mapping.keys, mapping.case_insensitive)
    whole = apply_to(destination, result.changes, mapping.keys, mapping.case_insensitive)
    assert state == whole


@given(jobs, st.randoms(use_true_random=False))
def test_the_plan_is_independent_of_input_order(
    job: Job,
    rng: random.Random,
) -> None:
    mapping, source, destination, act = job
    managed = managed_of(mapping)
    result = plan(source, destination, mapping, managed, act_on_absence=act)
    shuffled_source = [dict(reversed(record.items())) for record in source]
    shuffled_destination = [dict(reversed(record.items())) for record in destination]
    rng.shuffle(shuffled_source)
    rng.shuffle(shuffled_destination)
    again = plan(shuffled_source, shuffled_destination, mapping, managed, act_on_absence=act)
    assert again.hash == result.hash
    assert again.changes == result.changes
    assert again.counts == result.counts


@given(jobs)
def test_keep_and_merge_never_clear_or_drop_a_value(
    job: Job,
) -> None:
    mapping, source, destination, act = job
    policy = {field.to: field.policy for field in mapping.fields}
    result = plan(source, destination, mapping, managed_of(mapping), act_on_absence=act)
    by_key = {match_key(r, ["uid"], mapping.case_insensitive): r for r in destination}
    for change in result.changes:
        if change.action != "update":
            continue
        existing = by_key[match_key(change.match, ["uid"], mapping.case_insensitive)]
        assert not [field for field in change.clear if policy.get(field, "force") != "force"]
        for field, value in change.set.items():
            old = present(existing.get(field))
            if policy.get(field) == "keep":
                assert old is None
            elif policy.get(field) == "merge" and old is not None:
                assert not isinstance(old, Binary)  # merge keeps binary values as they are
                old_items = [old] if isinstance(old, str) else old
                assert isinstance(value, list) and value[: len(old_items)] == old_items


@given(jobs)
def test_creates_and_moves_carry_their_container(
    job: Job,
) -> None:
    mapping, source, destination, act = job
    result = plan(source, destination, mapping, managed_of(mapping), act_on_absence=act)
    listed = {match_key(r, ["uid"], mapping.case_insensitive): r for r in source}
    found = {match_key(r, ["uid"], mapping.case_insensitive): r for r in destination}
    for change in result.changes:
        key = match_key(change.match, ["uid"], mapping.case_insensitive)
        if change.action == "move" and key in listed:  # where its source record says
            assert mapping.container_from is not None and mapping.on_both == "update"
            wanted, now = listed[key][CONTAINER_FIELD], found[key][CONTAINER_FIELD]
            assert isinstance(wanted, str) and isinstance(now, str)
            assert change.container == wanted and not same_container(wanted, now)
        elif change.action in ("move", "disable"):  # disable with move_to: disable-and-move
            assert change.container == mapping.move_to
        elif change.action != "create":
            assert change.container is None
        elif mapping.container_from is None:
            assert change.container == mapping.container
        else:
            assert change.container in (*CONTAINERS[1:], mapping.container)
