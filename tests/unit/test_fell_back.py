"""An incremental run whose source could not use its watermark (a Graph delta link that
expired) and read every record to the end is a full run: absence is acted on, and the
plan says why. A read that fails part-way plans nothing; one type read by its changes
keeps the run incremental."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import pytest

from schemas.jobs import Changes, Endpoint, FieldMap, Job, ObjectMapping
from schemas.values import Record
from services.providers.base import ChangeReader, FallsBack, Provider
from services.runner.planning import Sides, plan_job
from services.runner.planning.reading import Reading

EVERYONE: list[Record] = [{"id": "a", "name": "Ada"}, {"id": "b", "name": "Bob"}]
CHANGED: list[Record] = [{"id": "b", "name": "Bob"}]
DESTINATION: list[Record] = [
    {"id": "a", "name": "Ada"},
    {"id": "b", "name": "Bob"},
    {"id": "gone", "name": "Deleted in the source"},
]
LOST = "the delta link had expired"


class Feed:
    """A source with a change feed: `since="lost"` is a watermark it can no longer use,
    so it reads every record (and breaks after the first one when `breaks`)."""

    def __init__(self, breaks: bool = False) -> None:
        self.breaks = breaks
        self.why: str | None = None

    def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        return self._read(since)

    async def _read(self, since: str | None) -> AsyncIterator[list[Record]]:
        if since != "lost":
            yield CHANGED if since else EVERYONE
            return
        yield EVERYONE[:1]
        if self.breaks:
            raise ConnectionError("the source went away")
        yield EVERYONE[1:]
        self.why = LOST

    def watermark(self) -> str | None:
        return "next"

    def fell_back(self) -> str | None:
        return self.why

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        yield EVERYONE

    def canonical(self, record: Record) -> Record:
        return record


class Table:
    """A destination; `rereadable` takes the low-memory planner (same plan either way)."""

    def __init__(self, records: list[Record], rereadable: bool) -> None:
        self.records, self.rereadable = records, rereadable

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        yield self.records

    def canonical(self, record: Record) -> Record:
        return record


MAPPING = ObjectMapping(
    keys=["id"], on_destination_only="delete", fields=[FieldMap(to="id"), FieldMap(to="name")]
)
JOB = Job(
    id="hr",
    source=Endpoint(connection="src"),
    destination=Endpoint(connection="dst"),
    objects=[MAPPING],
    changes=Changes(),
)


def sides(rereadable: bool, breaks: bool = False) -> Sides:
    source = Feed(breaks)
    assert isinstance(source, ChangeReader) and isinstance(source, FallsBack)
    return Sides(cast(Provider, source), cast(Provider, Table(DESTINATION, rereadable)))


@pytest.mark.parametrize("rereadable", [False, True])
async def test_a_watermark_the_source_can_use_keeps_the_run_incremental(rereadable: bool) -> None:
    planned = await plan_job(JOB, sides(rereadable), reading=Reading(True, "good"))
    assert planned.incremental and planned.full_because is None and planned.since == "good"
    assert planned.plan.counts.delete == 0  # who is absent cannot be seen
    assert not any(w.startswith("full run") for w in planned.plan.warnings)


@pytest.mark.parametrize("rereadable", [False, True])
async def test_a_lost_watermark_makes_a_full_run_that_acts_on_absence(rereadable: bool) -> None:
    planned = await plan_job(JOB, sides(rereadable), reading=Reading(True, "lost"))
    assert not planned.incremental and planned.since is None
    assert planned.full_because == LOST
    assert [c.match["id"] for c in planned.plan.changes if c.action == "delete"] == ["gone"]
    assert planned.plan.warnings[0].startswith(f"full run: {LOST}: every record was read")
    assert planned.watermark == "next"
    # The very plan of a full run: same changes, same hash (a preview gives it too).
    full = await plan_job(JOB, sides(rereadable), reading=Reading())
    assert full.plan.hash == planned.plan.hash and full.full_because is None


@pytest.mark.parametrize("rereadable", [False, True])
async def test_a_full_read_that_fails_part_way_plans_nothing(rereadable: bool) -> None:
    with pytest.raises(ConnectionError):
        await plan_job(JOB, sides(rereadable, breaks=True), reading=Reading(True, "lost"))


async def test_a_run_scoped_to_keys_reads_everything_but_leaves_absence_alone() -> None:
    planned = await plan_job(JOB, sides(False), keys=["a"], reading=Reading(True, "lost"))
    assert planned.full_because is None and planned.plan.counts.delete == 0
    assert planned.plan.warnings[0] == (
        f"{LOST}: every record was read (a run scoped to some keys leaves absence alone)"
    )


async def test_one_type_read_by_its_changes_keeps_the_run_incremental() -> None:
    groups = ObjectMapping(type="group", keys=["id"], on_destination_only="delete")
    job = Job(
        id="hr",
        source=Endpoint(connection="src"),
        destination=Endpoint(connection="dst"),
        objects=[MAPPING, groups],
        changes=Changes(),
    )
    since = '{"group": "good", "user": "lost"}'
    both = Sides(
        cast(Provider, Feed()),
        cast(Provider, Table(DESTINATION, False)),
        [(cast(Provider, Feed()), cast(Provider, Table(DESTINATION, False)))],
    )
    planned = await plan_job(job, both, reading=Reading(True, since))
    assert planned.incremental and planned.full_because is None
    assert planned.plan.counts.delete == 0
    assert planned.plan.warnings[0] == (
        f"every record of user ({LOST}) was read, but only the changes of group: the run "
        "stays incremental and leaves absence alone"
    )
