"""Containers of new objects, move targets, and the order of a plan's phases."""

from __future__ import annotations

from typing import Any

import pytest

from core.engine import (
    CONTAINER_FIELD,
    PHASES,
    dn_depth,
    map_record,
    phase_of,
    plan,
    split_batches,
    with_container,
)
from schemas.jobs import FieldMap, ObjectMapping
from schemas.plan import Action, Change
from schemas.values import Record

PEOPLE = "ou=People,dc=example,dc=org"
FIELDS = [FieldMap(to="uid", from_="login"), FieldMap(to="cn")]


def job(**options: Any) -> ObjectMapping:
    return ObjectMapping(**{"keys": ["uid"], "fields": FIELDS, **options})


def shaped(record: Record, mapping: ObjectMapping) -> Record:
    return with_container(map_record(record, mapping), record, mapping)


@pytest.mark.parametrize(
    ("options", "record", "expected"),
    [
        pytest.param({}, {"login": "a"}, None, id="none"),
        pytest.param({"container": PEOPLE}, {"login": "a"}, PEOPLE, id="fixed"),
        pytest.param(
            {"container_from": "ou"},
            {"login": "a", "ou": "ou=Sales,dc=x"},
            "ou=Sales,dc=x",
            id="from-an-unmapped-source-field",
        ),
        pytest.param(
            {"container_from": "ou", "container": PEOPLE},
            {"login": "a", "ou": "ou=S,dc=x"},
            "ou=S,dc=x",
            id="source-field-before-fixed",
        ),
        pytest.param(
            {"container_from": "ou", "container": PEOPLE},
            {"login": "a"},
            PEOPLE,
            id="fixed-when-the-field-is-empty",
        ),
        pytest.param(
            {"container_from": "ou"},
            {"login": "a", "ou": ["ou=One,dc=x"]},
            "ou=One,dc=x",
            id="a-list-of-one",
        ),
    ],
)
def test_a_create_goes_to_its_container(
    options: dict[str, Any], record: Record, expected: str | None
) -> None:
    mapping = job(**options)
    result = plan([shaped(record, mapping)], [], mapping, ("uid", "cn"))
    (change,) = result.changes
    assert change.container == expected
    assert CONTAINER_FIELD not in change.set  # never written as a field
    assert result.warnings == []


def test_a_missing_container_is_a_warning_naming_the_record() -> None:
    mapping = job(container_from="ou")
    result = plan([shaped({"login": "bob", "ou": ["a", "b"]}, mapping)], [], mapping, ("uid",))
    assert result.changes[0].container is None
    assert result.warnings == [
        "source record 'bob' has no container in 'ou': created where the destination "
        "puts objects by default"
    ]


def test_the_container_is_not_compared_on_update() -> None:
    mapping = job(container_from="ou")
    source = shaped({"login": "bob", "ou": "ou=New,dc=x", "cn": "B"}, mapping)
    result = plan([source], [{"uid": "bob", "cn": "B"}], mapping, ("uid", "cn"))
    assert result.changes == []
    assert result.counts.unchanged == 1


def test_with_container_leaves_records_alone_without_container_from() -> None:
    record: Record = {"login": "a", "ou": "x"}
    mapped = map_record(record, job())
    assert with_container(mapped, record, job()) is mapped


def test_a_move_goes_to_move_to() -> None:
    mapping = job(on_destination_only="move", move_to="ou=Former,dc=x")
    (change,) = plan([], [{"uid": "gone"}], mapping, ("uid",)).changes
    assert (change.action, change.container) == ("move", "ou=Former,dc=x")


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("alice", 0),
        ("", 0),
        (None, 0),
        ("dc=org", 1),
        ("cn=Alice,ou=People,dc=example,dc=org", 4),
        ("cn=Smith\\, John,ou=People,dc=org", 3),
        (',+"<>;=#', 0),
        ("=x,y", 0),
        ("a b=c,d", 0),
        ("sales / alice", 0),
    ],
)
def test_dn_depth(text: str | None, depth: int) -> None:
    assert dn_depth(text) == depth


def test_deletes_go_children_first_and_creates_parents_first() -> None:
    mapping = ObjectMapping(keys=["dn"], on_destination_only="delete")
    tree = ["dc=org", "ou=People,dc=org", "cn=a,ou=People,dc=org", "cn=b,dc=org"]
    gone = plan([], [{"dn": dn} for dn in tree], mapping, ("dn",))
    assert [c.key for c in gone.changes] == [
        "cn=a,ou=People,dc=org",
        "cn=b,dc=org",
        "ou=People,dc=org",
        "dc=org",
    ]
    made = plan([{"dn": dn} for dn in tree], [], mapping, ("dn",))
    assert [c.key for c in made.changes] == [
        "dc=org",
        "cn=b,dc=org",
        "ou=People,dc=org",
        "cn=a,ou=People,dc=org",
    ]


def change(action: Action, key: str, object_type: str = "user") -> Change:
    return Change(action=action, key=key, match={"uid": key}, object_type=object_type)


def test_containers_are_a_phase_of_their_own() -> None:
    changes = [
        change("create", "ou", "container"),
        change("update", "ou2", "container"),
        change("create", "a"),
        change("delete", "ou3", "container"),
    ]
    assert [phase_of(c) for c in changes] == ["containers", "containers", "objects", "deletes"]
    batches = split_batches(changes, 10, 100_000)
    assert [[c.key for c in batch] for batch in batches] == [["ou", "ou2"], ["a"], ["ou3"]]


def test_phases_follow_the_architecture() -> None:
    assert PHASES == ("containers", "objects", "moves", "references", "disables", "deletes")
    mapping = ObjectMapping(keys=["uid"], on_destination_only="delete")
    result = plan(
        [{"uid": "b"}, {"uid": "c", "x": "1"}], [{"uid": "a"}, {"uid": "c"}], mapping, ("uid", "x")
    )
    assert [(c.action, phase_of(c)) for c in result.changes] == [
        ("create", "objects"),
        ("update", "objects"),
        ("delete", "deletes"),
    ]
