"""The cycle collector's pauses: nested and overlapping, it resumes once all have ended,
and only if it was on before; and planning lets go of its records before it resumes."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from schemas.jobs import FieldMap, ObjectMapping
from schemas.values import Record
from services.common import collector
from services.common.collector import collector_paused
from services.runner.planning import plan_job
from tests.unit.test_compiled_mapping import job, sides


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was_on = gc.isenabled()
    gc.enable()
    yield
    if not was_on:
        gc.disable()


def test_overlapping_pauses_resume_the_collector_when_the_last_ends() -> None:
    first, second = collector_paused(), collector_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # a batch applied while a run plans: ends first
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_pause_leaves_a_collector_turned_off_off() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_an_error_in_the_block_still_resumes_the_collector() -> None:
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("planning failed")
    assert gc.isenabled()


async def test_planning_lets_go_of_its_records_before_the_collector_resumes() -> None:
    """Resumed, the collector would scan every record still held: planning in memory lets
    go of them with the plan made (not when its worker thread gets round to it)."""
    mapping = ObjectMapping(keys=["uid"], fields=[FieldMap(to="uid"), FieldMap(to="mail")])
    records: list[Record] = [{"uid": f"u{n}", "mail": f"m{n}"} for n in range(20_000)]
    gc.collect()
    with collector_paused():
        planned = await plan_job(job(mapping), sides(records, records))
        held = gc.get_count()[0]  # objects made while paused and not freed since
    assert planned.plan.counts.unchanged == 20_000
    assert held < 5_000


def test_a_decoded_batch_of_creates_gives_the_collector_nothing_to_scan() -> None:
    """A batch's changes hold text only: once decoded, none of their containers is one the
    cycle collector tracks, so thousands of batches add nothing to its scans."""
    from schemas.plan import Change
    from schemas.work import WorkBatch, decode_batch, encode

    creates = [
        Change(action="create", key=f"e{n}", match={"id": f"e{n}"}, set={"id": f"e{n}", "cn": "A"})
        for n in range(50)
    ]
    batch = WorkBatch(run_id="r", job_id="j", plan_hash="h", phase=0, number=1, changes=creates)
    decoded = decode_batch(encode(batch))
    assert decoded == batch
    fields = [
        getattr(change, name) for change in decoded.changes for name in change.__struct_fields__
    ]
    tracked = [value for value in fields if gc.is_tracked(value)]
    assert tracked == []


def test_pauses_overlapping_longer_than_the_longest_collect_once_as_one_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches applied side by side, one after another, keep the collector paused: past
    LONGEST, the cycles made meanwhile are collected as one of them ends."""
    clock = [1000.0]
    monkeypatch.setattr(collector, "monotonic", lambda: clock[0])

    class Node:
        me: object = None

    first, second, third = collector_paused(), collector_paused(), collector_paused()
    first.__enter__()
    node = Node()
    node.me = node  # a cycle, let go while paused: only the collector frees it
    gone = weakref.ref(node)
    del node
    second.__enter__()
    first.__exit__(None, None, None)
    assert gone() is not None  # within LONGEST: still paused, nothing collected
    third.__enter__()
    clock[0] += collector.LONGEST + 1
    second.__exit__(None, None, None)
    assert gone() is None
    assert not gc.isenabled()  # the third goes on paused
    third.__exit__(None, None, None)
    assert gc.isenabled()
