"""A plan's warnings stay with its run: `run.planned` keeps the first ones (as `job
preview` says them) and how many there are, the run's story folds them in, and `idsync
run show`, the end of `idsync job run --wait` and the run's mail say them — a run in the
background is not silent about the records it skipped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.headerregistry import Address
from types import SimpleNamespace
from typing import cast

import msgspec
import pytest

from core.run_texts import WARNING_LENGTH, WARNINGS_KEPT, kept_warnings
from core.runs import fold, story_at
from schemas.events import RunFinished, RunPlanned, RunRequested, decode_event, encode_event
from schemas.jobs import Endpoint, Job, Notification, ObjectMapping
from schemas.plan import PlanCounts, RunStats
from services.cli import watch
from services.cli.client import Session
from services.cli.ends import Followed, print_end
from services.notifier.compose import compose
from services.notifier.triggers import mailings

RUN, JOB = "20261207T020000Z-5e1f0a", "hr"
EMPTY_KEY = 'source record skipped, empty key (id): {"id":"","name":"Ada"}'
WATERMARK = "changes value 'N/A' of record 7 is not a date: not used as the watermark"


def planned(warnings: list[str]) -> RunPlanned:
    kept, total = kept_warnings(warnings)
    return RunPlanned(
        run_id=RUN,
        job_id=JOB,
        plan_hash="h",
        counts=PlanCounts(create=1, skipped=2),
        source_records=3,
        destination_records=0,
        batches=1,
        warnings=kept,
        warnings_total=total,
    )


def finished() -> RunFinished:
    stats = RunStats(read=3, created=1, skipped=2)
    return RunFinished(run_id=RUN, job_id=JOB, plan_hash="h", stats=stats, seconds=0.2)


def story() -> list[RunRequested | RunPlanned | RunFinished]:
    other = EMPTY_KEY.replace("Ada", "Bob")
    return [
        RunRequested(run_id=RUN, job_id=JOB, requested_by="ada"),
        planned([EMPTY_KEY, other, WATERMARK]),
        finished(),
    ]


def test_the_run_keeps_the_warnings_as_preview_says_them() -> None:
    (run,) = fold(story())
    assert run.warnings == [f"{EMPTY_KEY} (and 1 more like it)", WATERMARK]
    assert run.warnings_total == 2


def test_a_plan_with_many_warnings_keeps_the_first_ones_and_counts_the_rest() -> None:
    many = [f"left alone: object {n} is held by another job" for n in range(50)]
    long = "source record skipped, empty key (id): {" + "x" * 5000 + "}"
    kept, total = kept_warnings([long, *many])
    assert total == 51 and len(kept) == WARNINGS_KEPT
    assert len(kept[0]) == WARNING_LENGTH and kept[0].endswith("…")
    assert kept[1] == "left alone: object 0 is held by another job"
    assert len(encode_event(planned([long, *many]))) < 4_000  # one small event


def test_an_older_run_planned_without_warnings_still_decodes() -> None:
    raw = msgspec.json.decode(encode_event(planned([])))
    del raw["warnings"], raw["warnings_total"]
    old = decode_event(msgspec.json.encode(raw))
    assert isinstance(old, RunPlanned) and old.warnings == [] and old.warnings_total == 0
    (run,) = fold([old])
    assert run.warnings == [] and run.warnings_total == 0


def test_job_run_wait_says_the_warnings_after_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    followed = Followed(RUN, None)
    many = [f"left alone: object {n} is held by another job" for n in range(WARNINGS_KEPT + 3)]
    followed.take(planned(many))
    followed.take(finished())
    code = print_end(RUN, finished(), as_json=False, followed=followed)
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].startswith(f"run {RUN} finished in ")
    assert out[2] == "  warning: left alone: object 0 is held by another job"
    assert out[-1] == "  warning: ... and 3 more warnings"
    assert len(out) == 2 + WARNINGS_KEPT + 1


def test_job_run_wait_json_says_the_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    followed = Followed(RUN, None)
    followed.take(planned([WATERMARK]))
    print_end(RUN, finished(), as_json=True, followed=followed)
    said = msgspec.json.decode(capsys.readouterr().out)
    assert said["warnings"] == [WATERMARK] and said["end"]["type"] == "run.finished"


def test_the_mail_says_the_warnings_in_both_parts() -> None:
    job = Job(
        id=JOB,
        source=Endpoint(connection="a"),
        destination=Endpoint(connection="b"),
        objects=[ObjectMapping(keys=["id"])],
        notify=[Notification(recipients=["ops@example.org"], trigger="always")],
    )
    events = story()
    end = events[-1]
    (mailing,) = mailings(job, end)
    msg = compose(job, end, story_at(events, end), mailing, Address("i", "idsync", "x.org"))
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"Warnings (2):\n  {EMPTY_KEY} (and 1 more like it)\n  {WATERMARK}\n" in text
    assert "<h3>Warnings (2)</h3>" in html
    assert "changes value &#x27;N/A&#x27; of record 7" in html


class MissedEverything:
    """A session whose subscription brought none of the run's events: the journal has
    them all (a core subscription can miss events)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.nc = SimpleNamespace(is_connected=True, is_closed=False)
        self.settings = SimpleNamespace(wait_reconnect=60.0)

    @asynccontextmanager
    async def follow(self, *subjects: str) -> AsyncIterator[asyncio.Queue[object]]:
        yield self.queue

    async def request_run(self, *args: object) -> str:
        return RUN

    async def journal(self, subject: str) -> list[object]:
        return list(story())


async def test_warnings_missed_by_the_subscription_are_read_from_the_journal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(watch, "QUIET_CHECK", 0.0)  # the journal asked at once
    monkeypatch.setattr(watch, "TICK", 0.01)
    session = cast(Session, MissedEverything())
    assert await watch.wait_for_run(session, JOB, None, as_json=False) == 0
    assert capsys.readouterr().out.splitlines()[2:] == [
        f"  warning: {EMPTY_KEY} (and 1 more like it)",
        f"  warning: {WATERMARK}",
    ]
