"""What the runner that applies a lifecycle's changes keeps of absences
(services/runner/absences.py `remember`): a move away starts one, a move back (a
restore) ends it — wherever objects come back to, the job's own container included."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from core.engine.lifecycle import DELETED, LEAVER_FIELD, Lifecycle
from core.engine.plan import plan
from schemas.jobs import Endpoint, FieldMap, Job, Leavers, ObjectMapping
from schemas.values import Record
from services.common.watermarks import Absence, Memory
from services.runner.absences import forget_returned, remember
from services.runner.planning.reading import reading

NOW = datetime(2026, 6, 1, tzinfo=UTC)
LEFT = {"field": "status", "equals": "left"}


class Kept:
    """The absences a job keeps (a stand-in for `Memory`)."""

    def __init__(self, absent: dict[str, datetime]) -> None:
        self.absent = dict(absent)
        self.ways: dict[str, Sequence[str]] = {}

    async def mark_absent(
        self,
        job_id: str,
        object_type: str,
        match_key: str,
        shown: str,
        since: datetime,
        ways: Sequence[str] = (),
    ) -> None:
        if match_key not in self.absent or self.ways.get(match_key) == [DELETED]:
            self.absent[match_key], self.ways[match_key] = since, ways

    async def forget_absent(self, job_id: str, object_type: str, match_key: str) -> None:
        self.absent.pop(match_key, None)
        self.ways.pop(match_key, None)

    async def mark_deleted(
        self, job_id: str, object_type: str, match_key: str, shown: str, at: datetime
    ) -> None:
        self.absent[match_key], self.ways[match_key] = at, [DELETED]

    async def undo(
        self, job_id: str, object_type: str, match_key: str, way: str, taken: Sequence[str]
    ) -> None:
        if match_key not in self.absent:
            return
        left = [w for w in self.ways.get(match_key) or taken if w != way]
        if left:
            self.ways[match_key] = left
        else:
            await self.forget_absent(job_id, object_type, match_key)

    async def watermark(self, job_id: str) -> None:
        return None

    async def absent_objects(self, job_id: str) -> dict[str, dict[str, Absence]]:
        """As `Memory.absent_objects` reads them back (the object type: "user")."""
        return {
            "user": {
                key: Absence(key=key, since=since, ways=list(self.ways.get(key, ())))
                for key, since in self.absent.items()
            }
        }

    async def absences(self, job_id: str) -> dict[str, dict[str, datetime]]:
        return {"user": dict(self.absent)}


def mapping(**way: object) -> ObjectMapping:
    fields = [FieldMap(to="uid"), FieldMap(to="status")]
    return ObjectMapping(type="user", keys=["uid"], fields=fields, restore=True, **way)  # type: ignore[arg-type]


WAYS: dict[str, dict[str, object]] = {
    "leavers moved away": {"leavers": Leavers(when=LEFT, action="move", move_to="ou=Former")},
    "leavers moved away, absence disabled": {
        "on_destination_only": "disable",
        "leavers": Leavers(when=LEFT, action="move", move_to="ou=Former"),
    },
    "moved away for absence": {"on_destination_only": "move", "move_to": "ou=Former"},
}


@pytest.mark.parametrize("way", WAYS)
async def test_an_object_moved_back_where_new_ones_go_is_no_longer_absent(way: str) -> None:
    """No container of its own (no `container_from`, no `container`): back in the source,
    it is moved back where the destination puts new objects, and its absence ends — else
    each run would move it back again, and its next absence delete it at once."""
    kind = mapping(**WAYS[way])
    job = Job(
        id="people",
        source=Endpoint(connection="hr"),
        destination=Endpoint(connection="dir"),
        objects=[kind],
    )
    since = NOW - timedelta(days=3)
    lifecycle = Lifecycle(absent_since={"ada": since}, now=NOW, delete_after=timedelta(days=30))
    back = plan(
        [{"uid": "ada", "status": "here"}],
        [{"uid": "ada", "status": "here"}],
        kind,
        ["status"],
        lifecycle=lifecycle,
    )
    moves = [c for c in back.changes if c.action == "move"]
    assert [(c.key, c.container) for c in moves] == [("ada", None)]
    kept = Kept({"ada": since})
    changes = list(back.changes)
    await remember(cast(Memory, kept), job, changes, [None] * len(changes), NOW)
    assert kept.absent == {}


async def test_an_object_deleted_for_absence_leaves_no_absence_behind() -> None:
    """Absent objects deleted at once, leavers disabled: a delete ends the object, and
    keeps no absence — else the same key back later (created anew) and then leaving
    would be deleted at once, never disabled first."""
    kind = mapping(on_destination_only="delete", leavers=Leavers(when=LEFT), delete_after="30d")
    job = Job(
        id="people",
        source=Endpoint(connection="hr"),
        destination=Endpoint(connection="dir"),
        objects=[kind],
    )
    lifecycle = Lifecycle(absent_since={}, now=NOW, delete_after=timedelta(days=30))
    gone = plan([], [{"uid": "ada", "status": "here"}], kind, ["status"], lifecycle=lifecycle)
    assert [(c.key, c.action) for c in gone.changes] == [("ada", "delete")]
    kept = Kept({})
    changes = list(gone.changes)
    await remember(cast(Memory, kept), job, changes, [None] * len(changes), NOW)
    assert kept.absent == {}


MIXED = {  # the absent disabled, the leavers moved away
    "on_destination_only": "disable",
    "leavers": Leavers(when=LEFT, action="move", move_to="ou=Former"),
}


@pytest.mark.parametrize(
    ("record", "way", "back"),
    [
        ([], "disable", ["enable"]),  # gone from the source: disabled, then enabled
        ([{"uid": "ada", "status": "left"}], "move", ["move"]),  # left: moved, moved back
    ],
)
async def test_an_object_back_is_restored_as_it_was_taken_away(
    record: list[Record], way: str, back: list[str]
) -> None:
    """A job that disables the absent and moves its leavers away: the one disabled is
    enabled when back, not also moved (it never was); the leaver moved away is moved back,
    not also enabled — each restore as the run that took the object away did, kept with
    its absence."""
    kind = mapping(**MIXED)
    job = Job(
        id="people",
        source=Endpoint(connection="hr"),
        destination=Endpoint(connection="dir"),
        objects=[kind],
    )
    ada: Record = {"uid": "ada", "status": "here"}
    kept = Kept({})
    memory = cast(Memory, kept)
    for day, source in enumerate([[ada], leaving(record), [ada]]):
        now = NOW + timedelta(days=day)
        lifecycle = (await reading(memory, job, False, "manual", now)).lifecycles["user"]
        the_plan = plan(source, [ada], kind, ["status"], lifecycle=lifecycle)
        changes = list(the_plan.changes)
        if day == 1:
            assert [c.action for c in changes] == [way]
        await remember(memory, job, changes, [None] * len(changes), now)
    assert [c.action for c in changes] == back
    assert kept.absent == {}, "its absence ends"


def leaving(records: list[Record]) -> list[Record]:
    """Source records, those whose status says they left marked as the mapper marks them."""
    return [{**r, LEAVER_FIELD: "yes"} if r.get("status") == "left" else r for r in records]


@pytest.mark.parametrize("kept_how", [True, False])
async def test_an_object_enabled_whose_move_back_failed_is_moved_back_by_the_next_run(
    kept_how: bool,
) -> None:
    """Disabled and moved away (a disable with move_to), then back: its enable is applied
    (the objects phase) but its move back fails. Its absence is not forgotten with the
    enable: the next run moves it back — else it stayed where leavers go, enabled, for
    good. Whether the absence says how it went (kept since) or not (kept before)."""
    kind = mapping(on_destination_only="disable", move_to="ou=Former")
    job = Job(
        id="people",
        source=Endpoint(connection="hr"),
        destination=Endpoint(connection="dir"),
        objects=[kind],
    )
    kept = Kept({"ada": NOW - timedelta(days=3)})
    if kept_how:
        kept.ways["ada"] = ["disable", "move"]
    memory = cast(Memory, kept)
    ada: Record = {"uid": "ada", "status": "here"}

    async def restore(day: int, failing: str | None) -> list[str]:
        now = NOW + timedelta(days=day)
        lifecycle = (await reading(memory, job, False, "manual", now)).lifecycles["user"]
        changes = list(plan([ada], [ada], kind, ["status"], lifecycle=lifecycle).changes)
        errors = ["refused" if c.action == failing else None for c in changes]
        await remember(memory, job, changes, errors, now)
        return [c.action for c in changes]

    assert await restore(0, failing="move") == ["enable", "move"]
    assert await restore(1, failing=None) == ["move"], "moved back, not enabled again"
    assert kept.absent == {}, "restored: its absence ends"
    assert await restore(2, failing=None) == []


async def test_a_new_leaver_deleted_after_the_grace_is_not_created_again() -> None:
    """A job creating new leavers (`new = "create"`): HR keeps a leaver, who gets an
    account disabled at once, deleted once `delete_after` has passed — and then, still a
    leaver, no account again (it was one to create and disable anew every day after each
    delete, deleted again 30 days later, for as long as HR keeps the person). Back at
    work, the person is created anew, and what was kept of it forgotten."""
    kind = mapping(
        on_destination_only="disable",
        delete_after="30d",
        leavers=Leavers(when=LEFT, action="disable", new="create"),
    )
    job = Job(
        id="people",
        source=Endpoint(connection="hr"),
        destination=Endpoint(connection="dir"),
        objects=[kind],
    )
    kept = Kept({})
    memory = cast(Memory, kept)
    found: list[Record] = []

    async def day(n: int, status: str) -> list[str]:
        now = NOW + timedelta(days=n)
        lifecycle = (await reading(memory, job, False, "manual", now)).lifecycles["user"]
        source = leaving([{"uid": "ada", "status": status}])
        the_plan = plan(source, found, kind, ["status"], lifecycle=lifecycle)
        await forget_returned(memory, job, the_plan.returned)
        changes = list(the_plan.changes)
        for change in changes:
            if change.action == "create":
                found.append({**change.match, **change.set})
            elif change.action == "delete":
                found.clear()
        await remember(memory, job, changes, [None] * len(changes), now)
        return [c.action for c in changes]

    assert await day(0, "left") == ["create", "disable"]
    assert await day(1, "left") == []
    assert await day(30, "left") == ["delete"]
    assert await day(31, "left") == [], "deleted for good, not made again"
    assert await day(90, "left") == []
    assert await day(91, "here") == ["create"], "back at work: a new account"
    assert kept.absent == {}
    assert await day(92, "left") == ["disable"], "leaves again: its account disabled"


async def test_a_leaver_kept_deleted_whose_account_is_made_again_elsewhere_is_disabled_once() -> (
    None
):
    """A leaver deleted at the end of its lifecycle, kept as such; someone makes its
    account again by hand: the next run disables it (a leaver's account) — once, its
    absence started afresh over the kept delete, not every run."""
    kind = mapping(
        on_destination_only="disable",
        delete_after="30d",
        leavers=Leavers(when=LEFT, action="disable", new="create"),
    )
    job = Job(
        id="people",
        source=Endpoint(connection="hr"),
        destination=Endpoint(connection="dir"),
        objects=[kind],
    )
    kept = Kept({})
    memory = cast(Memory, kept)
    await memory.mark_deleted("people", "user", "ada", "ada", NOW)
    source = leaving([{"uid": "ada", "status": "left"}])
    made: list[Record] = [{"uid": "ada", "status": "left"}]  # by hand
    for day, wanted in enumerate([["disable"], []]):
        now = NOW + timedelta(days=day + 1)
        lifecycle = (await reading(memory, job, False, "manual", now)).lifecycles["user"]
        changes = list(plan(source, made, kind, ["status"], lifecycle=lifecycle).changes)
        assert [c.action for c in changes] == wanted
        await remember(memory, job, changes, [None] * len(changes), now)


async def test_an_object_deleted_by_someone_else_while_absent_is_made_anew_once() -> None:
    """Disabled for absence, then deleted by someone else: back in the source, it is
    created — and the next run finds nothing to do (it enabled the new object, found
    absent before)."""
    kind = mapping(on_destination_only="disable")
    job = Job(
        id="people",
        source=Endpoint(connection="hr"),
        destination=Endpoint(connection="dir"),
        objects=[kind],
    )
    kept = Kept({"ada": NOW - timedelta(days=3)})
    kept.ways["ada"] = ["disable"]
    memory = cast(Memory, kept)
    ada: Record = {"uid": "ada", "status": "here"}
    found: list[Record] = []  # deleted by hand
    for day, wanted in enumerate([["create"], []]):
        now = NOW + timedelta(days=day)
        lifecycle = (await reading(memory, job, False, "manual", now)).lifecycles["user"]
        the_plan = plan([ada], found, kind, ["status"], lifecycle=lifecycle)
        await forget_returned(memory, job, the_plan.returned)
        changes = list(the_plan.changes)
        assert [c.action for c in changes] == wanted, day
        found += [{**c.match, **c.set} for c in changes if c.action == "create"]
        await remember(memory, job, changes, [None] * len(changes), now)
