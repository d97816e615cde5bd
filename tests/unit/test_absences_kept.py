"""What the runner that applies a lifecycle's changes keeps of absences
(services/runner/absences.py `remember`): a move away starts one, a move back (a
restore) ends it — wherever objects come back to, the job's own container included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from core.engine.lifecycle import Lifecycle
from core.engine.plan import plan
from schemas.jobs import Endpoint, FieldMap, Job, Leavers, ObjectMapping
from services.common.watermarks import Memory
from services.runner.absences import remember

NOW = datetime(2026, 6, 1, tzinfo=UTC)
LEFT = {"field": "status", "equals": "left"}


class Kept:
    """The absences a job keeps (a stand-in for `Memory`)."""

    def __init__(self, absent: dict[str, datetime]) -> None:
        self.absent = dict(absent)

    async def mark_absent(
        self, job_id: str, object_type: str, match_key: str, shown: str, since: datetime
    ) -> None:
        self.absent.setdefault(match_key, since)

    async def forget_absent(self, job_id: str, object_type: str, match_key: str) -> None:
        self.absent.pop(match_key, None)


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
