"""What a runner says it works on (its heartbeat): every piece of work under way, each
until it ends, however they overlap."""

from __future__ import annotations

from services.runner.health import Work


def test_overlapping_work_is_listed_until_each_ends() -> None:
    work = Work()
    planning = work.doing("planning hr run r1")
    planning.__enter__()
    applying = work.doing("hr run r1 batch 1")  # its first batch, while planning hands out more
    applying.__enter__()
    planning.__exit__(None, None, None)
    assert sorted(work.items.values()) == ["hr run r1 batch 1"]
    applying.__exit__(None, None, None)
    assert work.items == {}
