"""The engine's features in every shape of job — one object type, several, in little
memory, scoped to keys, incremental —, planned in process as `job preview` and the run
plan them (`plan_job`), over days of a controlled clock: what a run plans, what the
runner remembers of it (absences.py), and what the next run plans."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import msgspec
import pytest

from core.engine import apply_to
from core.engine.keys import match_key
from core.engine.lifecycle import Lifecycle, has_lifecycle, taken_away
from schemas.jobs import Changes, Endpoint, Job, ObjectMapping
from schemas.values import Record
from services.providers.base import Provider
from services.runner.planning import PlannedRun, Sides, plan_job
from services.runner.planning.reading import Reading

from .test_lean_shapes import Destination, Source

DAY0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
SHAPES = ["one type", "two types", "little memory", "scoped to keys", "incremental"]
GROUPS: dict[str, Any] = {
    "type": "group",
    "keys": ["gid"],
    "on_destination_only": "delete",
    "fields": [{"to": "gid"}, {"to": "name"}],
}
GROUP: Record = {"gid": "staff", "name": "Staff"}


def planned(
    shape: str,
    users: dict[str, Any],
    source: list[Record],
    destination: list[Record],
    absent: dict[str, datetime],
    day: int,
    keys: list[str] | None = None,
    where: dict[str, Any] | None = None,
) -> PlannedRun:
    """The plan of a run of a job of `users` (and of groups, in a job of two types) in
    `shape`, on day `day`, with the absences the runner kept."""
    objects = [msgspec.convert(users, ObjectMapping)]
    if shape == "two types":
        objects.append(msgspec.convert(GROUPS, ObjectMapping))
    incremental = shape == "incremental"
    job = Job(
        id="hr",
        source=Endpoint(connection="src", where=where),
        destination=Endpoint(connection="dst"),
        objects=objects,
        changes=Changes() if incremental else None,
    )
    after = timedelta(days=30) if objects[0].delete_after else None
    now = DAY0 + timedelta(days=day)
    lifecycles = {}
    if has_lifecycle(objects[0]):
        lifecycles["user"] = Lifecycle(absent_since=dict(absent), now=now, delete_after=after)
    reading = Reading(incremental, "t" if incremental else None, lifecycles)
    lean = shape == "little memory"
    pairs = [
        (Source(source, source), Destination(destination, lean, False, False)),
        (Source([GROUP], []), Destination([GROUP], False, False, False)),
    ][: len(objects)]
    sides = Sides(
        cast(Provider, pairs[0][0]),
        cast(Provider, pairs[0][1]),
        [(cast(Provider, s), cast(Provider, d)) for s, d in pairs[1:]],
    )
    if shape == "scoped to keys" and keys is None:
        keys = [str(record["id"]) for record in source]
    return asyncio.run(plan_job(job, sides, keys, reading=reading))


def remembered(
    users: dict[str, Any], run: PlannedRun, absent: dict[str, datetime], day: int
) -> dict[str, datetime]:
    """The absences after the run, as the runner keeps them (absences.py): those that
    ended as it was planned forgotten, then each disable or move applied marked — its
    first date kept."""
    mapping = msgspec.convert(users, ObjectMapping)
    kept = {k: v for k, v in absent.items() if k not in run.plan.returned.get("user", [])}
    for change in run.plan.changes:
        key = match_key(change.match, mapping.keys, mapping.case_insensitive)
        if change.object_type != "user" or key is None:
            continue
        if taken_away(mapping, change):
            kept.setdefault(key, DAY0 + timedelta(days=day))
        elif change.action in ("delete", "enable"):
            kept.pop(key, None)
    return kept


def user_changes(run: PlannedRun) -> list[tuple[str, str]]:
    return [(c.action, c.key) for c in run.plan.changes if c.object_type == "user"]


@pytest.mark.parametrize("shape", SHAPES)
def test_a_leaver_created_anew_waits_delete_after_from_its_own_disable(shape: str) -> None:
    """E7 was disabled for absence 40 days ago, then deleted by hand; HR lists E7 again,
    as a leaver. The job creates new leavers: E7 is created and disabled — and its days
    count from this disable, not from the old object's: the next run leaves it alone
    (it deleted it, 30 days after the old absence)."""
    users: dict[str, Any] = {
        "type": "user",
        "keys": ["id"],
        "on_destination_only": "disable",
        "delete_after": "30d",
        "leavers": {"when": {"field": "status", "equals": "gone"}, "new": "create"},
        "fields": [{"to": "id"}, {"to": "name"}],
    }
    source: list[Record] = [{"id": "E7", "name": "Ann", "status": "gone"}]
    absent = {"E7": DAY0 - timedelta(days=40)}
    first = planned(shape, users, source, [], absent, day=0)
    assert user_changes(first) == [("create", "E7"), ("disable", "E7")]
    absent = remembered(users, first, absent, day=0)
    assert absent == {"E7": DAY0}
    destination = apply_to([], first.plan.changes, ["id"], False)
    for day in (1, 29):
        again = planned(shape, users, source, destination, absent, day=day)
        assert user_changes(again) == [], f"day {day}"
    assert user_changes(planned("one type", users, source, destination, absent, 30)) == [
        ("delete", "E7")
    ]


COMPOSED = "Zoë Müller-Ångström"
DECOMPOSED = "Zoe\u0308 Mu\u0308ller-A\u030angstro\u0308m"  # as a Mac or some HR exports write it


@pytest.mark.parametrize(
    "spec",
    [
        "title",
        [{"replace": "ü", "with": "ue"}, {"replace": "ö", "with": "oe"}, "ascii", "lower"],
        {"replace": "Müller", "with": "Mueller"},
        {"replace": "ü", "with": "ue", "ignore_case": True},
        {"replace": "(ö|ü)", "with": "-", "regex": True},
        {"map": {COMPOSED: "known"}},
        {"if": {"equals": COMPOSED}, "then": {"static": "yes"}, "else": {"static": "no"}},
        {"if": {"matches": "Müller"}, "then": {"static": "yes"}, "else": {"static": "no"}},
        {"if": {"equals": "zoë müller-ångström", "ignore_case": True}, "then": {"static": "y"}},
    ],
)
def test_a_name_written_decomposed_transforms_as_written_composed(spec: Any) -> None:
    """The same name, its accents written as combining marks: each transformation gives
    what it gives the composed one — not "Zoë MüLler-ÅNgströM" from `title`, "muller" from a
    `replace` of "ü", a record failing for a `map` entry it has, or a test not matching."""
    from core.engine.context import MappingContext
    from core.engine.transforms import compile_transform

    context = MappingContext(job_id="hr", run_id="r", now=DAY0, environment={})
    step = compile_transform(spec, "$.objects[0].fields[0].transform", context)
    composed = step(COMPOSED.lower() if spec == "title" else COMPOSED, {})
    decomposed = step(DECOMPOSED.lower() if spec == "title" else DECOMPOSED, {})
    assert decomposed == composed


@pytest.mark.parametrize("shape", SHAPES)
def test_a_where_and_leavers_test_a_decomposed_value_as_a_composed_one(shape: str) -> None:
    """A source's `where` and `leavers.when` name "Zürich"; a record
    writing them decomposed is in the scope, and leaves, as one writing them composed."""
    users: dict[str, Any] = {
        "type": "user",
        "keys": ["id"],
        "on_destination_only": "delete",
        "leavers": {"when": {"field": "status", "equals": "Ausgetreten (Zürich)"}},
        "fields": [{"to": "id"}, {"to": "site"}],
    }
    source: list[Record] = [
        {"id": "E1", "site": "Zu\u0308rich", "status": ""},
        {"id": "E2", "site": "Zürich", "status": "Ausgetreten (Zu\u0308rich)"},
    ]
    destination: list[Record] = [{"id": "E1", "site": "Zu\u0308rich"}, {"id": "E2", "site": "x"}]
    for where in (
        {"field": "site", "matches": "^Zürich$"},
        {"field": "site", "equals": ["zürich", "basel"], "ignore_case": True},
    ):
        run = planned(shape, users, source, destination, {}, 0, where=where)
        assert user_changes(run) == [("disable", "E2")], where


@pytest.mark.parametrize("shape", ["one type", "two types"])
def test_a_run_for_an_objects_whole_key_touches_that_object_alone(shape: str) -> None:
    """A type keyed on two fields shows its objects' keys as "E1 / Sales" (a preview,
    `idsync run show`): a run asked for that key plans that object alone — not nothing,
    with a warning that no record has it — and a failed record asked so is reported.
    Its first key alone ("E1") still asks for every object whose first key it is."""
    users: dict[str, Any] = {
        "type": "user",
        "keys": ["id", "dept"],
        "on_destination_only": "delete",
        "fields": [{"to": "id"}, {"to": "dept"}, {"to": "title", "transform": {"map": {"a": "A"}}}],
    }
    source: list[Record] = [
        {"id": "E1", "dept": "Sales", "title": "a"},
        {"id": "E1", "dept": "Finance", "title": "a"},
        {"id": "E2", "dept": "Sales", "title": "x"},  # fails: no map entry
    ]
    destination: list[Record] = [
        {"id": "E1", "dept": "Sales", "title": "old"},
        {"id": "E1", "dept": "Finance", "title": "old"},
        {"id": "E2", "dept": "Sales", "title": "old"},
    ]

    def asked(*keys: str) -> tuple[list[tuple[str, str]], list[str], list[str]]:
        run = planned(shape, users, source, destination, {}, 0, keys=list(keys))
        return user_changes(run), [e.key for e in run.record_errors], run.plan.warnings

    assert asked("E1 / Sales") == ([("update", "E1 / Sales")], [], [])
    assert asked(" e1 / Finance ", "E1 / Sales")[0] == [("update", "E1 / Sales")]
    assert asked("E2 / Sales") == ([], ["E2 / Sales"], [])
    assert asked("E1")[0] == [("update", "E1 / Finance"), ("update", "E1 / Sales")]


@pytest.mark.parametrize(
    ("spec", "record", "expected"),
    [
        ({"default": ["first_name"]}, {"preferred": "  ", "first_name": "Ada"}, "Ada"),
        ({"default": "n/a"}, {"preferred": " "}, "n/a"),
        ({"join": ["preferred", "first_name"]}, {"preferred": " ", "first_name": "Ada"}, "Ada"),
        (
            {"if": {"empty": True}, "then": {"static": "none"}, "else": {"static": "some"}},
            {"preferred": "\t "},
            "none",
        ),
        (
            {"if": {"field": "preferred", "empty": False}, "then": {"static": "some"}},
            {"preferred": " "},
            " ",
        ),
    ],
)
def test_a_cell_of_spaces_alone_is_no_value_to_a_transformation(
    spec: Any, record: Record, expected: str
) -> None:
    """A spreadsheet's blank cell is often a space: `default` falls back over it, `join`
    leaves it out, an `if` finds it empty — as they do for an empty cell."""
    from core.engine.context import MappingContext
    from core.engine.transforms import compile_transform

    context = MappingContext(job_id="hr", run_id="r", now=DAY0, environment={})
    step = compile_transform(spec, "$.objects[0].fields[0].transform", context)
    assert step(record.get("preferred"), record) == expected


def test_a_format_naming_a_field_of_spaces_alone_fails_its_record() -> None:
    """`{first_name}.{last_name}@example.org` with a last name of one space is not
    "zoe. @example.org" (nor, after `ascii` and a `replace` of what is not a letter,
    "zoe.@example.org"): the record fails, as it does for an empty last name."""
    users: dict[str, Any] = {
        "type": "user",
        "keys": ["id"],
        "on_destination_only": "delete",
        "fields": [
            {"to": "id"},
            {
                "to": "mail",
                "transform": [
                    {"format": "{first_name}.{last_name}@example.org"},
                    "lower",
                    {"replace": "[^a-z0-9.@]", "with": "", "regex": True},
                ],
            },
        ],
    }
    source: list[Record] = [{"id": "E1", "first_name": "Zoe", "last_name": " "}]
    destination: list[Record] = [{"id": "E1", "mail": "zoe.smith@example.org"}]
    for shape in SHAPES:
        run = planned(shape, users, source, destination, {}, 0)
        assert user_changes(run) == [], shape
        assert [(e.key, e.message) for e in run.record_errors] == [
            ("E1", "mail: format needs {last_name}, which has no value")
        ], shape


@pytest.mark.parametrize("shape", ["one type", "two types"])
def test_a_run_for_a_key_whose_record_a_where_leaves_out_says_so(shape: str) -> None:
    """A run for E2, whose record the source's `where` leaves out: it plans nothing —
    never acting on absence — and says why, rather than that no source record has E2
    (a whole run deletes its object)."""
    users: dict[str, Any] = {
        "type": "user",
        "keys": ["id"],
        "on_destination_only": "delete",
        "fields": [{"to": "id"}, {"to": "dept"}],
    }
    source: list[Record] = [{"id": "E1", "dept": "Sales"}, {"id": "E2", "dept": "Finance"}]
    where = {"field": "dept", "equals": "Sales"}
    cases: list[tuple[list[Record], str]] = [
        ([{"id": "E2", "dept": "Finance"}], "a run for some keys leaves its object alone"),
        ([], "no destination object has it: nothing is done for it"),
    ]
    for destination, said in cases:
        run = planned(shape, users, source, destination, {}, 0, keys=["E2"], where=where)
        assert user_changes(run) == []
        told = [w for w in run.plan.warnings if not w.startswith("group: ")]  # no dept
        assert [w.removeprefix("user: ") for w in told] == [
            "the source's record of the key 'E2' is out of the job's scope (its `where`)"
            + (": " if destination else ", and ")
            + said
            + (" (a whole run acts on it as missing from the source)" if destination else "")
        ]
    whole = planned("one type", users, source, [{"id": "E2"}], {}, 0, where=where)
    assert user_changes(whole) == [("create", "E1"), ("delete", "E2")]
