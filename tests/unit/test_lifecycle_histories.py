"""Drawn histories of one job's lifecycle, day by day: people leave the source or are
marked leavers, come back, stay away past `delete_after` — under every way a job takes
objects away (absence and leavers each disabled, moved, or both, or deleted) and in a
job of one type or of two. Each day's plan is applied to a simulated destination that
knows what is disabled and where each object is, the runner's `remember` keeps the
absences as it does (services/runner/absences.py), and the next day's lifecycle is read
back as a run reads it (`reading`). Whatever was drawn:

- the same source planned again the same day plans nothing (no phantom change after a
  disable, a move, a restore or a delete), and no change is one for nothing: an enable
  of an object never disabled, a move to where it is;
- an object whose person is in the source, no leaver, is enabled and where new objects
  go (restored) — with `restore`;
- a person absent or leaving is disabled or moved as the job says, and deleted once
  `delete_after` has passed, never before;
- the job's second type (groups, never absent) changes nothing of the people's plan.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from core.engine.lifecycle import LEAVER_FIELD, Lifecycle
from core.engine.objects import ObjectType, plan_objects
from core.engine.plan import Plan
from schemas.jobs import Job
from schemas.plan import Change
from schemas.values import Record
from services.common.watermarks import Memory
from services.runner.absences import forget_returned, remember
from services.runner.planning.reading import reading

from .test_absences_kept import Kept

DAY0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
PEOPLE = ["p1", "p2", "p3"]
HOME = "ou=people"
EXAMPLES = 1000 if os.environ.get("IDSYNC_LONG_TESTS") else 120


@dataclass
class Directory:
    """The simulated destination: objects, the disabled ones, where each one is."""

    objects: dict[str, Record] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    where: dict[str, str] = field(default_factory=dict)

    def records(self) -> list[Record]:
        return [dict(record) for record in self.objects.values()]

    def apply(self, changes: list[Change], errors: list[str | None] | None = None) -> None:
        """The changes applied, but those whose error (`errors`) says they failed."""
        for change, error in zip(changes, errors or [None] * len(changes), strict=True):
            if error is not None:
                continue
            key = str(change.match["uid"])
            if change.action == "delete":
                self.objects.pop(key, None)
                self.disabled.discard(key)
                self.where.pop(key, None)
            elif change.action == "create":
                self.objects[key] = {**change.match, **change.set}
                self.where[key] = change.container or HOME
            elif change.action == "update":
                self.objects[key] = {**self.objects[key], **change.set}
            elif change.action == "enable":
                assert key in self.disabled, f"{key} enabled, never disabled"
                self.disabled.discard(key)
            elif change.action == "disable":
                self.disabled.add(key)
            if change.action == "move":
                assert self.where[key] != (change.container or HOME), f"{key} moved where it is"
            if change.action == "move" or (change.action == "disable" and change.container):
                self.where[key] = change.container or HOME


def job_of(
    absence: str, leaving: str | None, move_to: bool, two: bool, creates: bool = False
) -> Job:
    people: dict[str, object] = {
        "type": "user",
        "keys": ["uid"],
        "container": HOME,
        "on_destination_only": absence,
        "restore": True,
        "fields": [{"to": "uid"}, {"to": "mail"}],
    }
    if move_to or absence == "move":
        people["move_to"] = "ou=gone"
    if absence in ("disable", "move") or leaving in ("disable", "move"):
        people["delete_after"] = "30d"
    if leaving is not None:
        people["leavers"] = {
            "when": {"field": "status", "equals": "left"},
            "action": leaving,
            "move_to": "ou=left" if leaving == "move" else None,
            "new": "create" if creates and leaving != "delete" else "skip",
        }
    objects: list[dict[str, object]] = [people]
    if two:
        objects.append({"type": "group", "keys": ["cn"], "fields": [{"to": "cn"}]})
    return msgspec.convert(
        {
            "id": "people",
            "source": {"connection": "hr"},
            "destination": {"connection": "dir"},
            "objects": objects,
        },
        Job,
    )


State = tuple[str, str]  # ("here" | "gone" | "left", mail)
days = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=40),  # days since the day before
        st.fixed_dictionaries(
            {
                p: st.tuples(
                    st.sampled_from(["here", "here", "gone", "left"]), st.sampled_from("ab")
                )
                for p in PEOPLE
            }
        ),
    ),
    min_size=1,
    max_size=6,
)


def source_of(states: dict[str, State]) -> list[Record]:
    records: list[Record] = []
    for person, (state, mail) in states.items():
        if state == "gone":
            continue
        record: Record = {"uid": person, "mail": mail}
        if state == "left":
            record[LEAVER_FIELD] = "yes"
        records.append(record)
    return records


def people_changes(the_plan: Plan, memory: Memory | None) -> list[Change]:
    """The people's changes of a plan; the absences of those back forgotten as the runner
    forgets them once it has planned (`forget_returned`), given its `memory`."""
    if memory is not None:
        asyncio.run(forget_returned(memory, JOB_OF[id(memory)], the_plan.returned))
    return [c for c in the_plan.changes if c.object_type == "user"]


JOB_OF: dict[int, Job] = {}
"""The job of each memory the tests plan with."""


def plan_day(
    job: Job,
    lifecycle: Lifecycle,
    source: list[Record],
    found: list[Record],
    memory: Memory | None = None,
) -> list[Change]:
    types = [ObjectType(job.objects[0], source, found, ("uid", "mail"), lifecycle=lifecycle)]
    if len(job.objects) > 1:
        team: Record = {"cn": "team"}
        types.append(ObjectType(job.objects[1], [team], [team], ("cn",)))
    the_plan, errors = plan_objects(types)
    assert errors == []
    return people_changes(the_plan, memory)


ACTIONS = ["create", "update", "delete", "disable", "enable", "move"]


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    days,
    st.sampled_from(["disable", "move", "delete", "skip"]),
    st.sampled_from([None, "disable", "move", "delete"]),
    st.booleans(),
    st.booleans(),
    st.lists(st.sets(st.sampled_from(ACTIONS)), max_size=7),
    st.booleans(),
)
def test_every_drawn_history_converges_each_day_and_restores_as_taken_away(
    history: list[tuple[int, dict[str, State]]],
    absence: str,
    leaving: str | None,
    move_to: bool,
    two: bool,
    failing: list[set[str]],
    creates: bool,
) -> None:
    """`failing`: the actions whose changes fail on each day's first run (the day's run
    is then run again, nothing failing); `creates`: new leavers are created (and given
    their action at once) — and one deleted, still a leaver, never made again."""
    job = job_of(absence, leaving, move_to, two, creates)
    ended: set[str] = set()  # deleted while away, and away since
    directory = Directory()
    kept = Kept({})
    memory = cast(Memory, kept)
    JOB_OF[id(memory)] = job
    first = {p: ("here", "a") for p in PEOPLE}
    now = DAY0
    taken_on: dict[str, tuple[datetime, str]] = {}  # when and how each was taken away
    for step, (passed, states) in enumerate([(0, first), *history]):
        now += timedelta(days=passed)
        source = source_of(states)
        fails = failing[step] if step < len(failing) else set()
        had = set(directory.objects)
        for attempt in (fails, set()):  # the day's run; then, if a change failed, again
            lifecycle = lifecycle_of(memory, job, now)
            changes = plan_day(job, lifecycle, source, directory.records(), memory)
            errors = ["refused" if c.action in attempt else None for c in changes]
            directory.apply(changes, errors)
            asyncio.run(remember(memory, job, changes, errors, now))
            if not any(errors):
                break
        again = asyncio.run(reading(memory, job, False, "manual", now)).lifecycles.get(
            "user", Lifecycle(absent_since={}, now=now)
        )
        replanned = plan_day(job, again, source, directory.records())
        assert replanned == [], (step, states, [(c.action, c.key) for c in replanned])
        for person, (state, _) in states.items():
            if state != "here" and person in had and person not in directory.objects:
                ended.add(person)
            if state == "left" and person in ended:
                assert person not in directory.objects, (step, person, "made again")
            if state == "here":
                ended.discard(person)
                assert person in directory.objects, (step, person)
                assert person not in directory.disabled, (step, person, "enabled when back")
                assert directory.where[person] == HOME, (step, person, "moved back")
                taken_on.pop(person, None)
                continue
            way = absence if state == "gone" else (leaving or "")
            if way in ("skip", ""):
                continue  # left alone (a leaver the job does not know: no object once gone)
            if person not in directory.objects:
                continue  # deleted (or, gone before it was made, never there)
            # Taken away once, the first way (absent, then a leaver: left as it is).
            since, way = taken_on.setdefault(person, (now, way))
            assert now - since < timedelta(days=30), (step, person, "deleted at 30d")
            if way == "disable":
                assert person in directory.disabled, (step, person)
            if way == "move":
                assert directory.where[person] in ("ou=gone", "ou=left"), (step, person)


def plan_scoped(
    job: Job,
    lifecycle: Lifecycle,
    source: list[Record],
    found: list[Record],
    keys: set[str],
    memory: Memory | None = None,
) -> list[Change]:
    """A run scoped to `keys`, as a run planned in memory plans it: their records and
    objects alone, every object to resolve against, absence left alone."""
    mine = [r for r in source if r["uid"] in keys]
    theirs = [r for r in found if r["uid"] in keys]
    people = job.objects[0]
    managed = ("uid", "mail")
    types = [ObjectType(people, mine, theirs, managed, lifecycle=lifecycle, everything=found)]
    if len(job.objects) > 1:
        types.append(ObjectType(job.objects[1], [], [], ("cn",), everything=[{"cn": "team"}]))
    the_plan, errors = plan_objects(types, act_on_absence=False, scoped=True, every_case=True)
    assert errors == []
    return people_changes(the_plan, memory)


def lifecycle_of(memory: Memory, job: Job, now: datetime) -> Lifecycle:
    found = asyncio.run(reading(memory, job, False, "manual", now)).lifecycles
    return found.get("user", Lifecycle(absent_since={}, now=now))


def state_of(directory: Directory, kept: Kept) -> tuple[object, ...]:
    return (
        directory.objects,
        directory.disabled,
        directory.where,
        kept.absent,
        {k: sorted(v) for k, v in kept.ways.items()},
    )


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.lists(st.tuples(days.map(lambda d: d[0]), st.sets(st.sampled_from(PEOPLE))), max_size=6),
    st.sampled_from(["disable", "move", "delete", "skip"]),
    st.sampled_from([None, "disable", "move", "delete"]),
    st.booleans(),
    st.booleans(),
)
def test_a_run_scoped_to_keys_keeps_the_lifecycle_a_whole_run_keeps(
    history: list[tuple[tuple[int, dict[str, State]], set[str]]],
    absence: str,
    leaving: str | None,
    move_to: bool,
    two: bool,
) -> None:
    """Each day, one destination gets the whole run alone, the other a run scoped to some
    keys first, then the whole run: the scoped run leaves the objects of its keys as the
    whole run leaves them (but for those absent: it leaves absence alone), and after the
    whole run both destinations, and the absences kept, are the same."""
    job = job_of(absence, leaving, move_to, two)
    whole, partial = Directory(), Directory()
    kept_whole, kept_partial = Kept({}), Kept({})
    now = DAY0
    first = ((0, {p: ("here", "a") for p in PEOPLE}), set[str]())
    for step, ((passed, states), keys) in enumerate([first, *history]):
        now += timedelta(days=passed)
        source = source_of(states)
        for directory, kept in ((whole, kept_whole), (partial, kept_partial)):
            memory = cast(Memory, kept)
            JOB_OF[id(memory)] = job
            if directory is partial and keys:
                life = lifecycle_of(memory, job, now)
                scoped = plan_scoped(job, life, source, directory.records(), keys, memory)
                directory.apply(scoped)
                asyncio.run(remember(memory, job, scoped, [None] * len(scoped), now))
                if step:  # compared with the whole run's, of the same day: made first
                    for key in keys - {p for p, (s, _) in states.items() if s == "gone"}:
                        assert (
                            partial.objects.get(key),
                            key in partial.disabled,
                            partial.where.get(key),
                        ) == (
                            whole.objects.get(key),
                            key in whole.disabled,
                            whole.where.get(key),
                        ), (step, key, "scoped as whole")
            life = lifecycle_of(memory, job, now)
            changes = plan_day(job, life, source, directory.records(), memory)
            directory.apply(changes)
            asyncio.run(remember(memory, job, changes, [None] * len(changes), now))
        assert state_of(partial, kept_partial) == state_of(whole, kept_whole), step
