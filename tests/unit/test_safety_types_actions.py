"""Each object type of a job is judged as a job of that type alone (core/engine/safety.py),
for every action the limits weigh — deletes, disables, moves, the moves of objects
brought back (`restore`), leavers' actions, deletes after `delete_after` — and for a
source that comes back empty, whichever type it is and wherever it stands in the job.

Each case plans the same data twice: as a job of two types (people beside groups), and
as a job of each type alone; the reasons to wait must be the same, type by type."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from core.engine import assess_types
from core.engine.lifecycle import Lifecycle
from schemas.jobs import Changes, Endpoint, FieldMap, Job, Leavers, ObjectMapping, Safety
from schemas.values import Record
from services.providers.base import Provider
from services.runner.planning import Sides, plan_job
from services.runner.planning.reading import Reading

from .test_compiled_mapping import Side

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PEOPLE = 1_000
GROUPS = 20
SAFETY = Safety(max_percent=5, max_count=1_000)
"""5%: 50 of the people, 1 of the groups (the floor: 3 of them)."""


def mapping(kind: str, way: dict[str, object]) -> ObjectMapping:
    key = "uid" if kind == "user" else "cn"
    fields = [FieldMap(to=key), FieldMap(to="name"), FieldMap(to="status")]
    return ObjectMapping(type=kind, keys=[key], fields=fields, **way)  # type: ignore[arg-type]


WAYS: dict[str, dict[str, object]] = {
    "deleted": {"on_destination_only": "delete"},
    "disabled": {"on_destination_only": "disable"},
    "moved": {"on_destination_only": "move", "move_to": "ou=gone"},
    "disabled and moved": {"on_destination_only": "disable", "move_to": "ou=gone"},
    "moved back (restore)": {
        "on_destination_only": "move",
        "move_to": "ou=gone",
        "restore": True,
    },
    "enabled and moved back (restore)": {
        "on_destination_only": "disable",
        "move_to": "ou=gone",
        "restore": True,
    },
    "deleted after delete_after": {"on_destination_only": "disable", "delete_after": "30d"},
    "leavers disabled": {
        "on_destination_only": "skip",
        "leavers": Leavers(when={"field": "status", "equals": "left"}),
    },
    "leavers moved": {
        "on_destination_only": "skip",
        "leavers": Leavers(when={"field": "status", "equals": "left"}, action="move", move_to="x"),
    },
    "leavers deleted": {
        "on_destination_only": "skip",
        "leavers": Leavers(when={"field": "status", "equals": "left"}, action="delete"),
    },
}
RETURNING = ("moved back (restore)", "enabled and moved back (restore)")
AFTER = "deleted after delete_after"
LEAVING = ("leavers disabled", "leavers moved", "leavers deleted")


def records(kind: str, count: int, status: str = "active") -> list[Record]:
    key = "uid" if kind == "user" else "cn"
    return [{key: f"{kind}{n:04}", "name": f"N{n}", "status": status} for n in range(count)]


def data(kind: str, held: int, taken: int, way: str) -> tuple[list[Record], list[Record], set[str]]:
    """The type's source and destination, `taken` of its `held` objects acted on in `way`;
    and the keys of the objects absent since a run long ago (their lifecycle)."""
    objects = records(kind, held)
    if way in LEAVING:  # every record there, `taken` of them saying their person left
        source = records(kind, held)
        for record in source[:taken]:
            record["status"] = "left"
        return source, objects, set()
    if way in RETURNING:  # `taken` objects absent since long ago, back in the source
        return records(kind, held), objects, {str(r[_key(kind)]) for r in objects[:taken]}
    source = objects[taken:]  # `taken` objects absent
    absent = {str(r[_key(kind)]) for r in objects[:taken]} if way == AFTER else set()
    return [dict(r) for r in source], objects, absent


def _key(kind: str) -> str:
    return "uid" if kind == "user" else "cn"


def side(found: list[Record]) -> Provider:
    return cast(Provider, Side(found))


def lifecycles(absent: dict[str, set[str]]) -> Reading:
    long_ago = NOW - timedelta(days=60)
    return Reading(
        lifecycles={
            kind: Lifecycle(
                absent_since=dict.fromkeys(keys, long_ago),
                now=NOW,
                delete_after=timedelta(days=30),
            )
            for kind, keys in absent.items()
        }
    )


async def reason_of(
    kinds: list[str], way: str, taken: dict[str, int], empty: str | None = None
) -> tuple[str | None, list[str]]:
    """Why a job of `kinds` waits (and its changes' actions), `taken[kind]` objects of
    each acted on in `way`; `empty`: that type's source comes back empty."""
    pairs = []
    absent: dict[str, set[str]] = {}
    for kind in kinds:
        held = PEOPLE if kind == "user" else GROUPS
        source, objects, gone = data(kind, held, taken.get(kind, 0), way)
        pairs.append((side([] if kind == empty else source), side(objects)))
        absent[kind] = gone
    job = Job(
        id="judged",
        source=Endpoint(connection="hr"),
        destination=Endpoint(connection="dir"),
        objects=[mapping(kind, WAYS[way]) for kind in kinds],
        safety=SAFETY,
    )
    sides = Sides(pairs[0][0], pairs[0][1], pairs[1:])
    planned = await plan_job(job, sides, reading=lifecycles(absent))
    reason = assess_types(planned.plan, planned.types, SAFETY, full_scope=True)
    return reason, sorted({c.action for c in planned.plan.changes})


def alone(reasons: dict[str, str | None]) -> str | None:
    """The reasons of the jobs of each type alone, as a job of them all gives them."""
    return "; ".join(f"{kind}: {why}" for kind, why in reasons.items() if why) or None


EXPECTED = {
    "deleted": ["delete"],
    "disabled": ["disable"],
    "moved": ["move"],
    "disabled and moved": ["disable"],
    "moved back (restore)": ["move"],
    "enabled and moved back (restore)": ["enable", "move"],
    "deleted after delete_after": ["delete", "disable"],
    "leavers disabled": ["disable"],
    "leavers moved": ["move"],
    "leavers deleted": ["delete"],
}


@pytest.mark.parametrize("way", list(WAYS))
@pytest.mark.parametrize(
    "taken",
    [{"group": 10}, {"group": 1}, {"user": 51}, {"user": 50, "group": 3}, {"user": 60, "group": 4}],
    ids=["half the groups", "one group", "51 people", "within both", "over both"],
)
async def test_each_type_waits_as_a_job_of_that_type_alone(way: str, taken: dict[str, int]) -> None:
    together, actions = await reason_of(["user", "group"], way, taken)
    each = {kind: (await reason_of([kind], way, taken))[0] for kind in ("user", "group")}
    assert together == alone(each)
    if way == AFTER:  # the absent objects deleted now; the others absent already disabled
        assert actions == ["delete"]
    else:
        assert actions == EXPECTED[way]
    over = taken.get("user", 0) > 50 or taken.get("group", 0) > 3
    assert (together is not None) == over, together


@pytest.mark.parametrize("way", list(WAYS))
@pytest.mark.parametrize("order", [["user", "group"], ["group", "user"]])
@pytest.mark.parametrize("empty", ["user", "group"])
async def test_one_type_whose_source_comes_back_empty_waits_whatever_its_place(
    way: str, order: list[str], empty: str
) -> None:
    """Even where nothing would be acted on (leavers only, objects brought back): an empty
    export is no data to trust."""
    together, _ = await reason_of(order, way, {}, empty=empty)
    held = PEOPLE if empty == "user" else GROUPS
    assert together is not None
    assert f"{empty}: the source returned no records while the destination holds {held:,}" in (
        together
    )
    each = {kind: (await reason_of([kind], way, {}, empty=empty))[0] for kind in order}
    assert together == alone(each)


class FellBack(Side):
    """A source read by its changes whose feed was lost: it reads every record, and says
    so (a Graph delta link that expired); or, `lost` false, only its changes (none)."""

    def __init__(self, records: list[Record], lost: bool) -> None:
        super().__init__(records)
        self.lost = lost

    async def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        yield self.records if self.lost or since is None else []

    def watermark(self) -> str | None:
        return "2"

    def fell_back(self) -> str | None:
        return "the delta link had expired" if self.lost else None


@pytest.mark.parametrize("lost", [("user", "group"), ("group",)], ids=["both", "groups only"])
async def test_an_empty_source_of_an_incremental_run_read_whole_waits(
    lost: tuple[str, ...],
) -> None:
    """The groups' feed lost, their source read whole comes back empty: where every type's
    source was read whole the run is a full one, and it waits as a full run does; where
    the people's changes alone were read, it stays incremental and acts on no absence."""
    kinds = ["user", "group"]
    pairs = []
    for kind in kinds:
        objects = records(kind, PEOPLE if kind == "user" else GROUPS)
        found = [] if kind == "group" else [dict(r) for r in objects]
        pairs.append((cast(Provider, FellBack(found, kind in lost)), side(objects)))
    job = Job(
        id="judged",
        source=Endpoint(connection="hr"),
        destination=Endpoint(connection="dir"),
        changes=Changes(field="modified"),
        objects=[mapping(kind, WAYS["deleted"]) for kind in kinds],
        safety=SAFETY,
    )
    reading = Reading(incremental=True, since='{"group": "1", "user": "1"}')
    sides = Sides(pairs[0][0], pairs[0][1], pairs[1:])
    planned = await plan_job(job, sides, reading=reading)
    reason = assess_types(planned.plan, planned.types, SAFETY, full_scope=not planned.incremental)
    deletes = [c.key for c in planned.plan.changes if c.action == "delete"]
    if len(lost) == 2:
        assert planned.full_because == "the delta link had expired"
        assert len(deletes) == GROUPS
        assert reason == (
            "group: the source returned no records while the destination holds 20 objects; "
            "20 deletes exceed the limit of 3 (the job's safety.min_count)"
        )
    else:
        assert planned.incremental and deletes == [] and reason is None
