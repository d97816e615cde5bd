"""Source keys that differ only in case, against a destination that compares keys
without case (its provider's `keys_fold`), in every shape of job a run (and its
preview: the same `plan_job`) plans: refused as two records sharing a key are where the
run sees them both, never a create into another record's object."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import msgspec
import pytest

from core.engine import DuplicateKey
from schemas.jobs import Changes, Endpoint, FieldMap, Job, ObjectMapping
from schemas.values import Record
from services.providers.base import Provider
from services.runner.planning import Sides, plan_job
from services.runner.planning.reading import Reading

UPPER: Record = {"uid": "R.Ouazana", "cn": "Raphaël Ouazana"}
LOWER: Record = {"uid": "r.ouazana", "cn": "Rachel Ouazana"}
USERS = ObjectMapping(
    type="user",
    keys=["uid"],
    on_destination_only="delete",
    fields=[FieldMap(to="uid"), FieldMap(to="cn")],
)
GROUPS = ObjectMapping(type="group", keys=["cn"], fields=[FieldMap(to="cn")])


class Records:
    """A source of these records; with `changed`, an incremental one whose change feed
    gives those."""

    def __init__(self, records: list[Record], changed: list[Record] | None = None) -> None:
        self.records, self.changed = records, changed

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        yield self.records

    def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        return self._changed(since)

    async def _changed(self, since: str | None) -> AsyncIterator[list[Record]]:
        yield (self.changed or []) if since else self.records

    def watermark(self) -> str | None:
        return "next"

    def canonical(self, record: Record) -> Record:
        return record


class Directory:
    """A destination comparing keys without case; `rereadable` takes the low-memory
    planner."""

    keys_fold = True

    def __init__(self, records: list[Record], rereadable: bool = False) -> None:
        self.records, self.rereadable = records, rereadable

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        yield self.records

    def canonical(self, record: Record) -> Record:
        return record


def job(*objects: ObjectMapping, incremental: bool = False) -> Job:
    return Job(
        id="hr",
        source=Endpoint(connection="src"),
        destination=Endpoint(connection="dst"),
        objects=list(objects),
        changes=Changes() if incremental else None,
    )


def sides(source: Records, destination: Directory, *others: tuple[Records, Directory]) -> Sides:
    pairs = [(cast(Provider, s), cast(Provider, d)) for s, d in others]
    return Sides(cast(Provider, source), cast(Provider, destination), pairs)


@pytest.mark.parametrize("existing", [[UPPER], []], ids=["one-entry", "none"])
@pytest.mark.parametrize("rereadable", [False, True], ids=["in-memory", "low-memory"])
async def test_a_job_of_one_type_refuses_records_alike_but_for_case(
    rereadable: bool, existing: list[Record]
) -> None:
    # In little memory the entry's own record is dropped unchanged and the other one
    # a create on disk, or both are creates on disk.
    both = sides(Records([UPPER, LOWER]), Directory(existing, rereadable))
    with pytest.raises(DuplicateKey) as refused:
        await plan_job(job(USERS), both)
    assert "'R.Ouazana' in two cases" in str(refused.value)
    assert "Rachel Ouazana" in str(refused.value)  # the create, named in full
    assert "set case_insensitive = true" in str(refused.value)


async def test_a_job_of_several_types_refuses_them() -> None:
    groups = (Records([{"cn": "staff"}]), Directory([]))
    with pytest.raises(DuplicateKey) as refused:
        await plan_job(job(GROUPS, USERS), sides(*groups, (Records([LOWER, UPPER]), Directory([]))))
    assert "in two cases" in str(refused.value)


async def test_a_run_scoped_to_one_of_the_keys_refuses_them() -> None:
    scoped = sides(Records([UPPER, LOWER]), Directory([UPPER]))
    with pytest.raises(DuplicateKey) as refused:
        await plan_job(job(USERS), scoped, keys=["r.ouazana"])
    assert "in two cases" in str(refused.value)


@pytest.mark.parametrize("unique", [False, True], ids=["plain", "unique"])
@pytest.mark.parametrize("rereadable", [False, True], ids=["in-memory", "low-memory"])
async def test_an_incremental_run_leaves_out_a_create_an_object_holds_in_another_case(
    rereadable: bool, unique: bool
) -> None:
    # In little memory a plain create goes to disk, and one with a unique field is kept:
    # either way planned with the object holding its key in another case.
    mapping = USERS
    if unique:
        login = FieldMap(to="login", from_="cn", unique=True, create_only=True)
        mapping = msgspec.structs.replace(USERS, fields=[*USERS.fields, login])
    source = Records([UPPER, LOWER], changed=[LOWER])
    destination = Directory([UPPER], rereadable)
    planned = await plan_job(
        job(mapping, incremental=True), sides(source, destination), reading=Reading(True, "t")
    )
    assert planned.incremental
    assert not planned.plan.changes
    assert planned.plan.counts.skipped == 1
    assert any("'r.ouazana' left out" in warning for warning in planned.plan.warnings)


DATED = ObjectMapping(
    type="user",
    keys=["uid"],
    fields=[FieldMap(to="uid"), FieldMap(to="born", transform={"date": "%d.%m.%Y", "to": "%Y"})],
)


async def test_a_run_scoped_to_one_key_refuses_a_record_that_failed_in_another_case() -> None:
    failed: Record = {"uid": "R.Ouazana", "born": "soon"}
    mapped: Record = {"uid": "r.ouazana", "born": "01.02.1990"}
    scoped = sides(Records([failed, mapped]), Directory([]))
    with pytest.raises(DuplicateKey) as refused:
        await plan_job(job(DATED), scoped, keys=["r.ouazana"])
    assert "in two cases" in str(refused.value)
    assert '"born":"soon"' in str(refused.value)  # the record that failed, as read


async def test_a_run_scoped_to_a_key_held_in_another_case_does_not_call_it_unknown() -> None:
    scoped = sides(Records([UPPER]), Directory([UPPER]))
    planned = await plan_job(job(USERS), scoped, keys=["r.ouazana"])
    assert not planned.plan.changes
    assert planned.plan.warnings == []
