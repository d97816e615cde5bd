"""Unique values for new objects: a taken login or address gets the next free variant."""

from __future__ import annotations

import random

import pytest

from core.engine import plan
from core.engine.mapping import check_mapping
from core.engine.objects import ObjectType, plan_objects
from core.engine.plan import Plan
from core.engine.unique import taken_in
from schemas.jobs import FieldMap, ObjectMapping, Unique
from schemas.values import Record

LOGIN = FieldMap(to="uid", create_only=True, unique=True)
MAIL = FieldMap(to="mail", create_only=True, unique=Unique(before="@"))
MAPPING = ObjectMapping(
    keys=["id"], on_destination_only="delete", fields=[FieldMap(to="id"), LOGIN, MAIL]
)
MANAGED = ("id", "uid", "mail")


def person(id: str, uid: str, mail: str = "") -> Record:
    return {"id": id, "uid": uid, "mail": mail or f"{uid}@example.org"}


def created(the_plan: Plan, field: str = "uid") -> dict[str, object]:
    """Key -> the value a create writes in `field`."""
    return {c.key: c.set.get(field) for c in the_plan.changes if c.action == "create"}


def test_a_value_an_object_holds_gives_the_new_one_the_next_variant() -> None:
    destination = [person("1", "jsmith")]
    source = [person("1", "jsmith"), person("2", "jsmith")]
    the_plan = plan(source, destination, MAPPING, MANAGED)
    assert created(the_plan) == {"2": "jsmith2"}
    assert created(the_plan, "mail") == {"2": "jsmith2@example.org"}  # before "@"
    assert the_plan.counts.unchanged == 1


def test_creates_of_one_run_take_values_in_key_order_whatever_the_source_order() -> None:
    source = [person(str(n), "jsmith") for n in range(1, 6)]
    plans = []
    for seed in range(5):
        random.Random(seed).shuffle(source)
        plans.append(plan(list(source), [], MAPPING, MANAGED))
    assert created(plans[0]) == {
        "1": "jsmith",
        "2": "jsmith2",
        "3": "jsmith3",
        "4": "jsmith4",
        "5": "jsmith5",
    }
    assert len({p.hash for p in plans}) == 1, "the preview plans what the run applies"


def test_several_taken_variants_are_skipped() -> None:
    destination = [person("a", "jsmith"), person("b", "JSmith2"), person("c", "jsmith4")]
    source = [*destination, person("d", "jsmith"), person("e", "jsmith")]
    assert created(plan(source, destination, MAPPING, MANAGED)) == {"d": "jsmith3", "e": "jsmith5"}


def test_case_accents_and_spaces_compare_as_keys_do() -> None:
    destination = [person("a", "ZOE.ANGSTROM", "Zoë@Example.org"), person("b", " ada ")]
    source = [
        *destination,
        person("c", "zoe.angstrom", "zoe\u0308@example.org"),  # a decomposed ë
        person("d", "Ada"),
    ]
    the_plan = plan(source, destination, MAPPING, MANAGED)
    assert created(the_plan) == {"c": "zoe.angstrom2", "d": "Ada2"}
    assert created(the_plan, "mail")["c"] == "zoe\u03082@example.org"


def test_a_variant_an_earlier_create_made_is_taken_too() -> None:
    source = [person("1", "jsmith"), person("2", "jsmith"), person("3", "jsmith2")]
    # 2 gets jsmith2 first (key order), so 3's own jsmith2 is taken: it gets jsmith22.
    assert created(plan(source, [], MAPPING, MANAGED)) == {
        "1": "jsmith",
        "2": "jsmith2",
        "3": "jsmith22",
    }


def test_an_object_that_exists_keeps_its_value() -> None:
    destination = [person("1", "jsmith"), person("2", "jsmith2")]
    source = [person("1", "jsmith"), person("2", "jsmith")]  # 2 would be "jsmith" today
    the_plan = plan(source, destination, MAPPING, MANAGED)
    assert the_plan.changes == [] and the_plan.counts.unchanged == 2


def test_objects_this_run_deletes_still_hold_their_values() -> None:
    destination = [person("old", "jsmith")]
    the_plan = plan([person("new", "jsmith")], destination, MAPPING, MANAGED)
    assert created(the_plan) == {"new": "jsmith2"}
    assert the_plan.counts.delete == 1


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        (Unique(), "jsmith", "jsmith2"),
        (Unique(pattern="{value}.{n}", start=1), "jsmith", "jsmith.1"),
        (Unique(pattern="{n}-{value}"), "jsmith", "2-jsmith"),
        (Unique(before="@"), "ada.l@example.org", "ada.l2@example.org"),
        (Unique(before="@"), "a@b@example.org", "a@b2@example.org"),  # the last "@"
        (Unique(before="@"), "no-at-sign", "no-at-sign2"),
    ],
)
def test_variants(rule: Unique, value: str, expected: str) -> None:
    mapping = ObjectMapping(
        keys=["id"], fields=[FieldMap(to="id"), FieldMap(to="uid", create_only=True, unique=rule)]
    )
    the_plan = plan([{"id": "2", "uid": value}], [{"id": "1", "uid": value}], mapping, MANAGED[:2])
    assert created(the_plan) == {"2": expected}


def test_a_run_that_plans_some_objects_checks_against_every_one_read() -> None:
    everything = [person("1", "jsmith"), person("2", "ada")]
    scoped = [record for record in everything if record["id"] == "2"]  # a run for keys 2, 3
    source = [person("2", "ada"), person("3", "jsmith")]
    taken = taken_in(MAPPING, everything)
    the_plan = plan(source, scoped, MAPPING, MANAGED, act_on_absence=False, taken=taken)
    assert created(the_plan) == {"3": "jsmith2"}
    assert created(plan(source, scoped, MAPPING, MANAGED, act_on_absence=False)) == {
        "3": "jsmith"
    }, "without every object's values the collision is missed"
    one = ObjectType(MAPPING, source, scoped, MANAGED, everything=everything)
    assert created(plan_objects([one], act_on_absence=False)[0]) == {"3": "jsmith2"}


def test_no_value_is_left_alone() -> None:
    source: list[Record] = [{"id": "1"}, {"id": "2", "uid": "x"}]
    assert created(plan(source, [{"id": "0", "uid": "x"}], MAPPING, MANAGED)) == {
        "1": None,
        "2": "x2",
    }


BAD: list[tuple[FieldMap, str, str]] = [
    (
        FieldMap(to="uid", unique=True),
        "$.objects[0].fields[1].unique",
        "needs create_only = true: an object that exists keeps its value",
    ),
    (
        FieldMap(to="key", create_only=True, unique=True),
        "$.objects[0].fields[1].unique",
        'a key field ("key") identifies its object and cannot be made unique',
    ),
    (
        FieldMap(to="uid", create_only=True, delimiter="|", unique=True),
        "$.objects[0].fields[1].unique",
        "makes one value unique: remove delimiter",
    ),
    (
        FieldMap(to="pw", create_only=True, transform="password", unique=True),
        "$.objects[0].fields[1].unique",
        "cannot go with a generated password",
    ),
    (
        FieldMap(to="uid", create_only=True, unique=Unique(pattern="{value}")),
        "$.objects[0].fields[1].unique.pattern",
        'needs {value} and {n} once each and no other braces, such as "{value}{n}" or '
        '"{value}.{n}", got "{value}"',
    ),
    (
        FieldMap(to="uid", create_only=True, unique=Unique(pattern="{value}{n}{n}")),
        "$.objects[0].fields[1].unique.pattern",
        "needs {value} and {n} once each",
    ),
    (
        FieldMap(to="uid", create_only=True, unique=Unique(pattern="{value}-{num}")),
        "$.objects[0].fields[1].unique.pattern",
        "needs {value} and {n} once each",
    ),
    (
        FieldMap(to="uid", create_only=True, unique=Unique(pattern="{value}{n}}")),
        "$.objects[0].fields[1].unique.pattern",
        "no other braces",
    ),
    (
        FieldMap(to="uid", create_only=True, unique=Unique(start=-1)),
        "$.objects[0].fields[1].unique.start",
        "needs a whole number of at least 0, got -1",
    ),
    (
        FieldMap(to="uid", create_only=True, unique=Unique(before="")),
        "$.objects[0].fields[1].unique.before",
        'needs the text to put the number before, such as "@"',
    ),
]


@pytest.mark.parametrize(("field", "path", "message"), BAD)
def test_a_rule_that_cannot_work_is_refused_when_the_job_is_applied(
    field: FieldMap, path: str, message: str
) -> None:
    mapping = ObjectMapping(keys=["key"], fields=[FieldMap(to="key"), field])
    ((at, problem),) = check_mapping(mapping, "$.objects[0]", "job")
    assert at == path and message in problem
