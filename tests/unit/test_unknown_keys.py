"""A run (or a preview) scoped to keys says which of them neither side holds — a typo in
`--key` reads as "nothing to do" otherwise."""

from __future__ import annotations

from typing import cast

from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping
from schemas.values import Record
from services.providers.base import Provider
from services.runner.planning import Sides, plan_job


class Side:
    """Just enough of a provider for plan_job."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records

    async def read(self, batch_size: int) -> object:
        yield self.records

    def canonical(self, record: Record) -> Record:
        return record


JOB = Job(
    id="hr",
    source=Endpoint(connection="x"),
    destination=Endpoint(connection="x"),
    objects=[
        ObjectMapping(
            keys=["uid"],
            fields=[
                FieldMap(to="uid"),
                FieldMap(to="born", transform={"date": "%d.%m.%Y", "to": "%Y"}),
            ],
        )
    ],
)
SOURCE: list[Record] = [{"uid": "ada", "born": "10.12.1815"}, {"uid": "bob", "born": "soon"}]
DESTINATION: list[Record] = [{"uid": "ada", "born": "1815"}, {"uid": "cy", "born": "1900"}]


async def test_a_key_no_side_holds_is_said() -> None:
    sides = Sides(cast(Provider, Side(SOURCE)), cast(Provider, Side(DESTINATION)))
    planned = await plan_job(JOB, sides, ["ada", "bob", "cy", "dan"])
    assert planned.plan.warnings == [
        "no source record and no destination object has the key 'dan': nothing is done for it"
    ], "ada is in both, bob failed to map, cy is in the destination only"


async def test_many_keys_no_side_holds_are_one_warning() -> None:
    sides = Sides(cast(Provider, Side(SOURCE)), cast(Provider, Side(DESTINATION)))
    asked = ["ada", *(f"x{n:05d}" for n in range(40_000))]
    planned = await plan_job(JOB, sides, asked)
    assert planned.plan.warnings == [
        "no source record and no destination object has the key 'x00000', nor 39999 other "
        "key(s) asked for ('x00001', 'x00002', 'x00003', 'x00004', 'x00005', …): nothing is "
        "done for them"
    ]
