"""The dashboard's chart of runs and changes per day, and which objects a changed job
brings into scope and which leave it (both pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from core.activity import daily
from core.runs import RunStory
from core.scope_change import scope_change
from schemas.plan import Change, RunStats


def story(run_id: str, at: datetime | None, state: str = "finished", **stats: int) -> RunStory:
    return RunStory(
        run_id=run_id, job_id="j", state=state, requested_at=at, stats=RunStats(**stats)
    )


def test_runs_and_their_changes_are_counted_on_the_day_they_were_asked_for() -> None:
    today = date(2026, 12, 6)
    stories = [
        story("a", datetime(2026, 12, 6, 23, 59, tzinfo=UTC), created=3, updated=1),
        story("b", datetime(2026, 12, 6, 0, 0, tzinfo=UTC), state="failed"),
        story("c", datetime(2026, 11, 7, 12, tzinfo=UTC), deleted=2, disabled=1, moved=1),
        story("d", datetime(2026, 11, 6, 12, tzinfo=UTC), created=100),  # 31 days ago
        story("e", None, created=50),  # never asked for in the journal's words
        story("f", datetime(2026, 12, 7, 0, 1, tzinfo=UTC), created=9),  # tomorrow
        story("g", datetime(2026, 12, 1, tzinfo=UTC), unchanged=40, failed=2, enabled=1),
    ]
    days = daily(stories, today)
    assert len(days) == 30 and days[0].day == date(2026, 11, 7) and days[-1].day == today
    assert (days[-1].runs, days[-1].changes, days[-1].failed) == (2, 4, 1)
    assert (days[0].runs, days[0].changes) == (1, 4)
    first_of_december = next(d for d in days if d.day == date(2026, 12, 1))
    assert (first_of_december.changes, first_of_december.failed) == (1, 1)
    assert sum(d.runs for d in days) == 4


def change(action: str, key: str, kind: str = "user") -> Change:
    return Change(action=action, key=key, match={"id": key}, object_type=kind)  # type: ignore[arg-type]


def test_scope_compares_what_each_plan_writes_and_removes() -> None:
    saved = [change("update", "E1"), change("delete", "E9")]
    changed = [
        change("update", "E1"),
        change("create", "E3"),
        change("create", "E2"),
        change("enable", "E4"),
        change("delete", "E5"),
        change("disable", "E6"),
        change("delete", "E9"),  # gone already with the saved job
        change("create", "E1", kind="group"),  # another type's object of the same key
    ]
    found = scope_change(saved, changed, samples=2)
    assert (found.entering, found.leaving) == (4, 2)
    assert found.entering_sample == ["E1", "E2"]  # the group, then E2 by (type, key)
    assert found.leaving_sample == ["E5", "E6"]
    assert scope_change(changed, changed, 5).entering == 0


def test_a_changed_field_map_brings_nothing_into_scope() -> None:
    """The saved job holds E1 and E2 unchanged (no change in its plan); the edited one maps a
    field anew and updates both: they were in scope already. E3, which the saved job
    deletes for absence and the edited one keeps and updates, enters."""
    saved = [change("delete", "E3")]
    changed = [change("update", "E1"), change("update", "E2"), change("update", "E3")]
    found = scope_change(saved, changed, samples=5)
    assert (found.entering, found.leaving) == (1, 0)
    assert found.entering_sample == ["E3"]
