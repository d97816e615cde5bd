"""The notifier's pure parts: which triggers an event fires, who gets which mail, the
addresses a job may name, and a mail that data cannot add headers to."""

from __future__ import annotations

from email.headerregistry import Address

import msgspec
import pytest

from core.checks.addresses import address_problem
from core.checks.job import check_job
from core.errors import BadInput
from core.runs import story_at as digest
from schemas.events import (
    Event,
    RunAwaitingApproval,
    RunBatchApplied,
    RunCancelled,
    RunDenied,
    RunExpired,
    RunFailed,
    RunFinished,
    RunPlanned,
    RunRequested,
    RunStarted,
)
from schemas.jobs import Endpoint, Job, Notification, ObjectMapping
from schemas.plan import PlanCounts, RecordError, RunStats
from services.notifier.compose import MailRefused, compose, message_id
from services.notifier.triggers import Mailing, fired, mailings
from services.providers import FACTS

RUN, JOB = "20261121T204800Z-3f9a1c", "hr"
SENDER = Address("idsync", "idsync", "example.org")


def job(*notify: Notification, title: str = "HR") -> Job:
    return Job(
        id=JOB,
        title=title,
        source=Endpoint(connection="a"),
        destination=Endpoint(connection="b"),
        objects=[ObjectMapping(keys=["id"])],
        notify=list(notify),
    )


def finished(**stats: int) -> RunFinished:
    s = RunStats(**stats)
    return RunFinished(
        run_id=RUN, job_id=JOB, stats=s, plan_hash="h", seconds=1.5, with_errors=s.failed > 0
    )


@pytest.mark.parametrize(
    ("event", "triggers"),
    [
        (finished(read=5, unchanged=5), {"always"}),
        (finished(read=5, created=1), {"always", "changed"}),
        (finished(read=5, created=1, failed=1), {"always", "changed", "errors"}),
        (finished(read=5, failed=2), {"always", "errors"}),
        (RunFailed(run_id=RUN, job_id=JOB, reason="x"), {"always", "failed"}),
        (
            RunFailed(run_id=RUN, job_id=JOB, reason="x", stats=RunStats(updated=3)),
            {"always", "failed", "changed"},
        ),
        (RunCancelled(run_id=RUN, job_id=JOB, by="ada"), {"always"}),
        (RunDenied(run_id=RUN, job_id=JOB, by="ada"), {"always"}),
        (RunExpired(run_id=RUN, job_id=JOB), {"always"}),
        (RunAwaitingApproval(run_id=RUN, job_id=JOB, reason="51 deletes"), {"approval"}),
        (RunStarted(run_id=RUN, job_id=JOB, runner="r"), set()),
        (RunRequested(run_id=RUN, job_id=JOB, requested_by="ada"), set()),
    ],
)
def test_each_event_fires_its_triggers(event: Event, triggers: set[str]) -> None:
    assert fired(event) == triggers


def test_a_finished_run_whose_plan_withheld_absence_fires_errors_alone() -> None:
    # deletes not made for a record without a key: heard of as a record error is
    errors = Notification(recipients=["errors@example.org"], trigger="errors")
    changed = Notification(recipients=["changed@example.org"], trigger="changed")
    quiet = finished(read=5, unchanged=4, skipped=1)
    assert fired(quiet, withheld=True) == {"always", "errors"}
    assert [m.recipients for m in mailings(job(errors, changed), quiet, withheld=True)] == [
        ("errors@example.org",)
    ]
    assert mailings(job(errors, changed), quiet) == []
    denied = RunDenied(run_id=RUN, job_id=JOB, by="ada")  # it did nothing: nothing withheld
    assert fired(denied, withheld=True) == {"always"}


def test_the_story_of_a_run_says_its_plan_withheld_absence() -> None:
    planned = RunPlanned(
        run_id=RUN,
        job_id=JOB,
        plan_hash="h",
        counts=PlanCounts(),
        source_records=5,
        destination_records=5,
        batches=0,
        absence_withheld=True,
    )
    end = finished(read=5, unchanged=5)
    assert digest([planned, end], end).absence_withheld
    assert not digest([end], end).absence_withheld


def test_a_recipient_gets_one_mail_per_event_with_every_attachment_asked_for() -> None:
    the_job = job(
        Notification(recipients=["Ada <ada@example.org>", "bob@example.org"], trigger="always"),
        Notification(recipients=["ADA@example.org"], trigger="changed", attach="xlsx"),
        Notification(recipients=["cy@example.org"], trigger="changed", attach="csv"),
        Notification(recipients=["cy@example.org"], trigger="errors", attach="xlsx"),
    )
    assert mailings(the_job, finished(read=1, created=1)) == [
        Mailing(recipients=("bob@example.org",)),
        Mailing(recipients=("cy@example.org",), attach=("csv",)),
        Mailing(recipients=("Ada <ada@example.org>",), attach=("xlsx",)),
    ]
    assert mailings(the_job, finished(read=1, unchanged=1)) == [
        Mailing(recipients=("Ada <ada@example.org>", "bob@example.org"))
    ]
    assert mailings(the_job, RunStarted(run_id=RUN, job_id=JOB, runner="r")) == []


@pytest.mark.parametrize(
    "text",
    [
        "ada@example.org",
        "Ada Lovelace <ada@example.org>",
        '"Smith, Jr." <js@example.org>',
        "o'brien+hr@mail.example.co.uk",
    ],
)
def test_addresses_people_write_are_accepted(text: str) -> None:
    assert address_problem(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "ada",
        "ada@example",
        "ada@@example.org",
        "Ada <ada@example.org",
        "a <b> <c@example.org>",
        "Eve\r\nBcc: x@example.org <eve@example.org>",
        "eve@example.org\x00",
        "",
    ],
)
def test_addresses_that_cannot_be_mailed_are_refused(text: str) -> None:
    assert address_problem(text) is not None


def test_applying_a_job_names_the_recipient_to_fix() -> None:
    bad = job(
        Notification(recipients=["ops@example.org", "ops at example"], trigger="failed"),
        Notification(recipients=[], trigger="always"),
    )
    with pytest.raises(BadInput) as refused:
        check_job(bad, {}, FACTS, origin="jobs/hr.toml")
    lines = str(refused.value).splitlines()
    assert 'jobs/hr.toml: $.notify[0].recipients[1]: expected an address such as "ada@' in (
        "\n".join(lines)
    )
    assert any(
        line.startswith("jobs/hr.toml: $.notify[1].recipients: expected at least one")
        for line in lines
    )


def events() -> list[Event]:
    mapping_error = RecordError(key="E3", action="map", message="no <dept>")
    planned = RunPlanned(
        run_id=RUN,
        job_id=JOB,
        plan_hash="h",
        counts=PlanCounts(create=2),
        source_records=3,
        destination_records=0,
        batches=1,
        errors=[mapping_error],
    )
    write_error = RecordError(key="E2", action="create", message="locked")
    batch = RunBatchApplied(
        run_id=RUN,
        job_id=JOB,
        plan_hash="h",
        batch=1,
        batches=1,
        changes=2,
        stats=RunStats(created=1, failed=1),
        errors=[write_error],
    )
    requested = RunRequested(run_id=RUN, job_id=JOB, requested_by="ada")
    return [requested, planned, batch, finished(read=3, created=1, failed=2)]


def test_the_mail_lists_the_plans_and_the_batches_errors_in_both_parts() -> None:
    the_job = job(Notification(recipients=["ops@example.org"], trigger="errors"))
    story = events()
    end = story[-1]
    (mailing,) = mailings(the_job, end)
    msg = compose(the_job, end, digest(story, end), mailing, SENDER)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "map E3: no <dept>" in text and "create E2: locked" in text
    assert "map E3: no &lt;dept&gt;" in html and "<dept>" not in html
    assert msg["Message-ID"] == f"<{end.id}.plain@example.org>"
    assert msg["Message-ID"] == message_id(end, mailing, SENDER)  # the same at each delivery


def test_the_mail_of_an_incremental_run_made_full_says_why() -> None:
    the_job = job(Notification(recipients=["ops@example.org"], trigger="always"))
    requested, planned, *rest = events()
    assert isinstance(planned, RunPlanned)
    why = "the delta link had expired (Graph keeps them 7 days) or was refused"
    fell_back = msgspec.structs.replace(planned, full_because=why)
    story = [requested, fell_back, *rest]
    end = story[-1]
    (mailing,) = mailings(the_job, end)
    msg = compose(the_job, end, digest(story, end), mailing, SENDER)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"Full run: {why}: every record was read" in text
    assert "Full run" in html and "the delta link had expired" in html
    plain = compose(the_job, end, digest(events(), end), mailing, SENDER)
    assert "Full run" not in plain.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_a_digest_tells_the_run_as_it_stood_at_the_event() -> None:
    waiting = RunAwaitingApproval(run_id=RUN, job_id=JOB, reason="3 deletes", plan_hash="h")
    later = finished(read=3, deleted=3)
    run = digest([*events()[:2], waiting, later], waiting)
    assert run.state == "awaiting approval" and run.stats == RunStats()


@pytest.mark.parametrize("title", ["HR\r\nBcc: x@example.org", "HR\nX-Evil: 1", "HR\x00"])
def test_a_title_that_would_add_a_header_is_refused(title: str) -> None:
    the_job = job(Notification(recipients=["ops@example.org"], trigger="always"), title=title)
    end = finished(read=1)
    (mailing,) = mailings(the_job, end)
    with pytest.raises(MailRefused, match="put it on one line in the job file"):
        compose(the_job, end, digest([end], end), mailing, SENDER)


def test_a_display_name_that_would_add_a_header_is_refused() -> None:
    evil = "Eve\r\nBcc: x@example.org <eve@example.org>"
    the_job = job(Notification(recipients=[evil], trigger="always"))
    end = finished(read=1)
    with pytest.raises(MailRefused, match="recipient"):
        compose(the_job, end, digest([end], end), Mailing(recipients=(evil,)), SENDER)


def test_a_multi_line_failure_reason_gives_a_one_line_subject() -> None:
    the_job = job(Notification(recipients=["ops@example.org"], trigger="failed"))
    end = RunFailed(run_id=RUN, job_id=JOB, reason="jobs/hr.toml: bad\r\nBcc: x@example.org")
    (mailing,) = mailings(the_job, end)
    msg = compose(the_job, end, digest([end], end), mailing, SENDER)
    assert msg["Subject"] == "[idsync] HR: failed — jobs/hr.toml: bad"
    assert msg["Bcc"] is None


def test_a_subject_says_the_moves_disables_and_restores_a_run_made() -> None:
    from services.notifier.compose import subject

    moved = finished(read=249, updated=1, moved=30, unchanged=218)
    assert subject(job(), moved) == (
        "[idsync] HR: finished — 0 created, 1 updated, 0 deleted, 30 moved, 0 failed"
    )
    assert subject(job(), finished(read=5, disabled=2, enabled=1)) == (
        "[idsync] HR: finished — 0 created, 0 updated, 0 deleted, 2 disabled, 1 enabled, 0 failed"
    )
    assert subject(job(), finished(read=5, created=3, updated=1)) == (
        "[idsync] HR: finished — 3 created, 1 updated, 0 deleted, 0 failed"
    )


def test_the_subject_of_a_run_with_warnings_says_how_many() -> None:
    # A run that deleted nothing because a source record has no key: its mail must not
    # look like one of a run with nothing to do.
    from schemas.events import RunPlanned

    why = (
        "1 source record has values but an empty key (employee_id): it could be the 1 "
        "destination object missing from the source, so none is deleted in this run"
    )
    planned = RunPlanned(
        run_id=RUN,
        job_id=JOB,
        plan_hash="h",
        counts=PlanCounts(unchanged=2, skipped=2),
        source_records=3,
        destination_records=3,
        batches=0,
        warnings=[why, "source record skipped, empty key (employee_id): {}"],
        warnings_total=2,
    )
    the_job = job(Notification(recipients=["ops@example.org"], trigger="always"))
    end = finished(read=3, unchanged=2, skipped=2)
    (mailing,) = mailings(the_job, end)
    msg = compose(the_job, end, digest([planned, end], end), mailing, SENDER)
    assert msg["Subject"] == (
        "[idsync] HR: finished — 0 created, 0 updated, 0 deleted, 0 failed, 2 warnings"
    )
    text = msg.get_body(("plain",))
    assert text is not None and why in text.get_content()


def test_an_approval_mail_gives_the_command_that_approves_this_plan_alone() -> None:
    the_job = job(Notification(recipients=["ops@example.org"], trigger="approval"))
    waits = RunAwaitingApproval(
        run_id=RUN, job_id=JOB, reason="10 deletes", plan_hash="7054478b5d22aaaa"
    )
    (mailing,) = mailings(the_job, waits)
    msg = compose(the_job, waits, digest([waits], waits), mailing, SENDER)
    text = msg.get_body(("plain",))
    assert text is not None
    assert f"idsync run approve {RUN} --plan 7054478b5d22" in text.get_content()


def test_an_approval_mail_of_a_request_not_yet_planned_gives_no_counts() -> None:
    """A job whose runs need approval waits before it reads anything: its mail says no
    plan was made, never "0 create, 0 update, 0 delete" (which an approver reads as a run
    doing nothing)."""
    the_job = job(Notification(recipients=["ops@example.org"], trigger="approval"))
    waits = RunAwaitingApproval(
        run_id=RUN, job_id=JOB, reason="manual run asked for by ada; job hr needs bob"
    )
    (mailing,) = mailings(the_job, waits)
    msg = compose(the_job, waits, digest([waits], waits), mailing, SENDER)
    assert "a run (not planned yet) waits for approval" in msg["Subject"]
    for kind in ("plain", "html"):
        part = msg.get_body((kind,))
        assert part is not None
        content = part.get_content()
        assert "not planned yet" in content and "0 delete" not in content
        assert ">0<" not in content
    planned = RunAwaitingApproval(
        run_id=RUN, job_id=JOB, reason="10 deletes", plan_hash="h", counts=PlanCounts(delete=10)
    )
    msg = compose(the_job, planned, digest([planned], planned), mailing, SENDER)
    assert "a plan waits for approval" in msg["Subject"]
    text = msg.get_body(("plain",))
    assert text is not None and "10 delete" in text.get_content()


def test_the_mail_of_a_run_for_some_keys_says_it_left_absent_objects_alone() -> None:
    the_job = job(Notification(recipients=["ops@example.org"], trigger="always"))
    asked = RunRequested(run_id=RUN, job_id=JOB, requested_by="crm", keys=["E1", "E2"])
    end = finished(read=2, updated=2)
    (mailing,) = mailings(the_job, end)
    msg = compose(the_job, end, digest([asked, end], end), mailing, SENDER)
    for kind in ("plain", "html"):
        part = msg.get_body((kind,))
        assert part is not None
        assert "scoped to 2 keys (E1, E2): absent objects left alone" in part.get_content()


def test_the_mail_of_a_run_cancelled_while_applying_says_its_counts_are_those_of_its_end() -> None:
    """A batch in flight when the run was cancelled completes after the mail is made: the
    mail's counts are the end's, and it says so (`idsync run show` counts that batch)."""
    the_job = job(Notification(recipients=["ops@example.org"], trigger="always"))
    plan = RunPlanned(
        run_id=RUN,
        job_id=JOB,
        plan_hash="h",
        counts=PlanCounts(create=100),
        source_records=100,
        destination_records=0,
        batches=10,
    )
    end = RunCancelled(run_id=RUN, job_id=JOB, by="ada", stats=RunStats())
    (mailing,) = mailings(the_job, end)
    msg = compose(the_job, end, digest([plan, end], end), mailing, SENDER)
    text = msg.get_body(("plain",))
    assert text is not None
    assert "Records, when it ended (a batch being applied then completes" in text.get_content()
