"""A job of one type plans the same in memory and in little memory (low_memory.py), in
every kind of run it may be — whole or incremental, with a lifecycle, a source's
`where`, a failed record, keys in two cases against a destination that folds them or
not, a merged field whose values it compares without case (`value_folds`), creates it
refuses before they are sent (`create_refusal`: an LDAP entry out of its query) —: the
same changes, counts, warnings, record errors, records read and refusals.
The plan in memory keeps the source values of its transformed fields (`sources`), which
little memory does not (docs/history.md): they are left out of what is compared."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import msgspec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.engine.lifecycle import Lifecycle, has_lifecycle
from core.engine.plan import plan_hash
from core.errors import IdsyncError
from schemas.jobs import Changes, Endpoint, Job, ObjectMapping
from schemas.plan import Change
from schemas.values import Record
from services.providers.base import Provider
from services.runner.planning import PlannedRun, Sides, plan_job
from services.runner.planning.reading import Reading

NOW = datetime(2026, 12, 7, tzinfo=UTC)
KEYS = ["a", "A", "b", " b", "", "é", "É"]


class Source:
    """Read in batches of two; with `changed`, an incremental one's change feed."""

    rereadable = True

    def __init__(self, records: list[Record], changed: list[Record]) -> None:
        self.records, self.changed = records, changed

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        for at in range(0, len(self.records), 2):
            yield [dict(r) for r in self.records[at : at + 2]]

    async def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        rows = self.changed if since else self.records
        for at in range(0, len(rows), 2):
            yield [dict(r) for r in rows[at : at + 2]]

    def watermark(self) -> str | None:
        return "next"

    def canonical(self, record: Record) -> Record:
        return record


class Destination:
    """`rereadable`: planned in little memory; `keys_fold` as drawn, or left unknown."""

    def __init__(
        self, records: list[Record], rereadable: bool, fold: bool | None, strict: bool
    ) -> None:
        self.records, self.rereadable = records, rereadable
        if fold is not None:
            self.keys_fold = fold
        if strict:  # values compared without case, creates of cn "y" refused
            self.value_folds = lambda field: True
            self.create_refusal = _refused

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        for at in range(0, len(self.records), 2):
            yield [dict(r) for r in self.records[at : at + 2]]

    def canonical(self, record: Record) -> Record:
        return record


def _refused(change: Change) -> str | None:
    return "out of the query" if change.set.get("cn") == "y" else None


sources = st.fixed_dictionaries(
    {
        "uid": st.sampled_from(KEYS),
        "cn": st.sampled_from(["", "x", "y"]),
        "born": st.sampled_from(["01.02.1990", "01.02.1990", "soon"]),
        "groups": st.sampled_from(["", "g", "g;h", "G;h"]),
        "status": st.sampled_from(["", "", "gone"]),
    }
)
destinations = st.fixed_dictionaries(
    {
        "uid": st.sampled_from(KEYS),
        "cn": st.sampled_from(["", "x"]),
        "born": st.sampled_from(["1990", ""]),
        "groups": st.sampled_from([None, ["g"], ["h", "g"]]),
    }
)


@st.composite
def mappings(draw: st.DrawFn) -> ObjectMapping:
    fields: list[dict[str, Any]] = [{"to": "uid"}, {"to": "cn", "create_only": draw(st.booleans())}]
    if draw(st.booleans()):
        fields.append({"to": "born", "transform": {"date": "%d.%m.%Y", "to": "%Y"}})
    groups = draw(st.sampled_from(["force", "merge"]))
    fields.append({"to": "groups", "delimiter": ";", "policy": groups})
    spec: dict[str, Any] = {
        "type": "user",
        "keys": ["uid"],
        "case_insensitive": draw(st.sampled_from([False, False, True])),
        "on_source_only": draw(st.sampled_from(["create", "create", "skip"])),
        "on_both": draw(st.sampled_from(["update", "skip"])),
        "on_destination_only": draw(st.sampled_from(["delete", "disable", "skip"])),
        "fields": fields,
    }
    if spec["on_destination_only"] == "disable":
        spec["restore"] = draw(st.booleans())
        spec["delete_after"] = draw(st.sampled_from([None, "30d"]))
    if draw(st.booleans()):
        spec["leavers"] = {"when": {"field": "status", "equals": "gone"}}
    return msgspec.convert(spec, ObjectMapping)


Case = tuple[ObjectMapping, list[Record], list[Record], list[Record], Any, Any, Any, bool, bool]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    mapping = draw(mappings())
    source = draw(st.lists(sources, max_size=6))
    changed = draw(st.lists(st.sampled_from(source), unique_by=id)) if source else []
    destination = draw(st.lists(destinations, max_size=5))
    fold = draw(st.sampled_from([True, True, False, None]))
    where = draw(st.sampled_from([None, {"field": "cn", "equals": "x"}]))
    past = st.sampled_from([NOW - timedelta(days=3), NOW - timedelta(days=40)])
    absent = draw(st.dictionaries(st.sampled_from(KEYS), past))
    records = cast(list[Record], source), cast(list[Record], changed)
    found = cast(list[Record], destination)
    return mapping, *records, found, fold, where, absent, draw(st.booleans()), draw(st.booleans())


def planned(case: Case, lean: bool) -> PlannedRun | IdsyncError:
    mapping, source, changed, destination, fold, where, absent, incremental, strict = case
    job = Job(
        id="hr",
        source=Endpoint(connection="src", where=where),
        destination=Endpoint(connection="dst"),
        objects=[mapping],
        changes=Changes() if incremental else None,
    )
    lifecycles = {}
    if has_lifecycle(mapping):
        after = timedelta(days=30) if mapping.delete_after else None
        lifecycles["user"] = Lifecycle(absent_since=absent, now=NOW, delete_after=after)
    reading = Reading(incremental, "t" if incremental else None, lifecycles)
    both = Sides(
        cast(Provider, Source(source, changed)),
        cast(Provider, Destination(destination, lean, fold, strict)),
    )
    try:
        return asyncio.run(plan_job(job, both, reading=reading))
    except IdsyncError as refused:
        return refused


MERGED = msgspec.convert(
    {
        "type": "user",
        "keys": ["uid"],
        "fields": [
            {"to": "uid"},
            {"to": "cn"},
            {"to": "groups", "delimiter": ";", "policy": "merge"},
        ],
    },
    ObjectMapping,
)
STRICT: Case = (
    MERGED,
    [{"uid": "a", "cn": "y", "groups": "g"}, {"uid": "b", "cn": "x", "groups": "G;h"}],
    [],
    [{"uid": "b", "cn": "x", "groups": ["g"]}],
    True,
    None,
    {},
    False,
    True,
)
"""A create refused, a merge of "G;h" into "g" where values compare without case."""


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
@example(STRICT)
def test_a_job_of_one_type_plans_the_same_in_little_memory(case: Case) -> None:
    in_memory, lean = planned(case, False), planned(case, True)
    if isinstance(in_memory, IdsyncError) or isinstance(lean, IdsyncError):
        assert type(lean) is type(in_memory)
        # Records alike but for case are named as far as little memory keeps them.
        assert getattr(lean, "key", None) == getattr(in_memory, "key", None)
        return
    changes = [msgspec.structs.replace(c, sources={}) for c in in_memory.plan.changes]
    assert list(lean.plan.changes) == changes
    assert lean.plan.hash == plan_hash(changes)
    assert lean.plan.counts == in_memory.plan.counts
    assert lean.plan.warnings == in_memory.plan.warnings
    assert lean.plan.returned == in_memory.plan.returned
    assert lean.record_errors == in_memory.record_errors
    assert lean.types == in_memory.types
    assert lean.incremental == in_memory.incremental
