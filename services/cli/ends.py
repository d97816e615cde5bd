"""How a followed run ends, in words and exit codes: for `idsync job run --wait`
whichever NATS client follows it (watch.py, job_quick.py), and for the demo."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.errors import Unreachable
from core.record_errors import RunErrors
from core.run_texts import duration, error_line, warning_lines
from core.runs import attempt_line
from schemas.events import (
    Event,
    RunAwaitingApproval,
    RunBatchApplied,
    RunDeadLetter,
    RunDeliveryFailed,
    RunFailed,
    RunFinished,
    RunPlanned,
    RunQueued,
    is_end,
    tag_of,
)

from .output import Progress, print_json, stats_line

if TYPE_CHECKING:
    from schemas.commands import CommandReply
    from schemas.plan import RecordError

EXIT_OK, EXIT_RUN_FAILED, EXIT_WITH_ERRORS, EXIT_WAITING = 0, 4, 5, 7
ERRORS_SHOWN = 5  # record errors `job run --wait` prints; `run show --errors N` has them all
QUIET_CHECK = 5.0  # seconds without an event before the journal is asked
TICK = 0.5  # seconds between looks at the connection while no event comes


def stops(event: Event) -> bool:
    """Where following a run ends: its end, or a wait for someone (an approval, or a
    dead letter to retry or drop)."""
    return is_end(event) or isinstance(event, RunAwaitingApproval | RunDeadLetter)


def exit_code(event: Event) -> int:
    if isinstance(event, RunFinished):
        return EXIT_WITH_ERRORS if event.with_errors else EXIT_OK
    if isinstance(event, RunAwaitingApproval | RunDeadLetter):
        return EXIT_WAITING
    return EXIT_RUN_FAILED


def lost(run_id: str, waited: float, wait_reconnect: float) -> Unreachable:
    return Unreachable(
        f"lost the NATS server while following run {run_id} (waited {waited:.0f}s for it to "
        f"come back; IDSYNC_WAIT_RECONNECT={wait_reconnect:g}). The run goes "
        f"on without this command: `idsync run show {run_id}` says how it ended once the "
        "server answers again"
    )


def describe_end(run_id: str, event: Event, errors: Sequence[RecordError] = ()) -> str:
    """How the run ended, in words; `errors`: its record errors as followed, the first
    ERRORS_SHOWN of which a run that finished with errors lists."""
    match event:
        case RunFinished(stats=stats, seconds=seconds, with_errors=with_errors, staged=staged):
            state = "finished with errors" if with_errors else "finished"
            state += " (staging: nothing written)" if staged else ""
            text = f"run {run_id} {state} in {duration(seconds)}\n  {stats_line(stats)}"
            if with_errors:
                text += "".join(f"\n  {error_line(error)}" for error in errors[:ERRORS_SHOWN])
                if len(errors) > ERRORS_SHOWN:
                    text += (
                        f"\n  … and {len(errors) - ERRORS_SHOWN} more: "
                        f"`idsync run show {run_id} --errors {len(errors)}` lists them all"
                    )
                elif not errors:
                    text += f"\n  `idsync run show {run_id}` says why each record failed"
            return text
        case RunFailed(reason=reason):
            return f"run {run_id} failed: {reason}"
        case RunAwaitingApproval(reason=reason, plan_hash=None):
            return (
                f"run {run_id} waits for approval: {reason}\n"
                f"  an approver sees it in `idsync run approvals` and runs "
                f"`idsync run approve {run_id}`; `idsync run deny {run_id}` ends it"
            )
        case RunAwaitingApproval(reason=reason, plan_hash=str(plan_hash)):
            return (
                f"run {run_id} wrote nothing and waits for approval: {reason}\n"
                f"  `idsync job preview {event.job_id}` shows the plan; "
                f"`idsync run approve {run_id} --plan {plan_hash[:12]}` applies it, "
                f"`idsync run deny {run_id}` ends it"
            )
        case RunDeadLetter(stage=stage, batch=batch, error=error):
            what = f"batch {batch}" if stage == "batch" else "its planning"
            return (
                f"run {run_id} waits: {what} failed its last delivery: {error}\n"
                "  `idsync deadletter list` shows it; `idsync deadletter retry SEQ` tries it "
                "again, `idsync deadletter drop SEQ` gives it up"
            )
        case _:
            return f"run {run_id} {tag_of(event).removeprefix('run.')}"


def print_asked(job_id: str, reply: CommandReply, *, as_json: bool) -> int:
    """`job run` without --wait: the run's id, and whom it waits for."""
    run_id, waits_for = reply.run_id, reply.waits_for
    if as_json:
        print_json({"run_id": run_id, "waits_for": waits_for})
    else:
        print(run_id)
        if waits_for is not None:
            print(waits_text(str(run_id), job_id, waits_for), file=sys.stderr)
    return EXIT_OK if waits_for is None else EXIT_WAITING


def waits_text(run_id: str, job_id: str, approvers: list[str]) -> str:
    """What `job run` says of a run that waits for its job's approvers."""
    if not approvers:
        return (
            f"run {run_id} waits for approval: job {job_id} needs the approval of an "
            "approver other than you, and it lists none that is a known user: add one to "
            f"its approval.approvers, or withdraw the run with `idsync run deny {run_id}`"
        )
    return (
        f"run {run_id} waits for approval: job {job_id} needs the approval of "
        f"{', '.join(approvers)}\n"
        f"  an approver sees it in `idsync run approvals` and runs "
        f"`idsync run approve {run_id}`; `idsync run deny {run_id}` withdraws it"
    )


class Followed:
    """A run followed through its events, each taken once (the journal and a
    subscription may both bring it): the progress bar moves, and `take` says whether
    the event is where following ends."""

    def __init__(self, run_id: str, progress: Progress | None) -> None:
        self.run_id = run_id
        self.progress = progress
        self.seen: set[str] = set()
        self.errors = RunErrors()
        self.warnings: list[str] = []
        """The plan's warnings, as its `run.planned` event keeps them (warning_lines)."""

    def take(self, event: Event) -> bool:
        if event.run_id != self.run_id or event.id in self.seen:
            return False
        self.seen.add(event.id)
        self.errors.apply(event)
        self.learn(event)
        if self.progress is not None:
            match event:
                case RunPlanned(counts=counts):
                    self.progress.start(counts.changes)
                case RunBatchApplied(changes=changes):
                    self.progress.advance(changes)
                case RunDeliveryFailed():
                    self.progress.note(attempt_line(event))
                case RunQueued(behind=behind):
                    self.progress.note(
                        f"waits for run {behind} of job {event.job_id} to end (one run of a "
                        "job at a time)"
                    )
        return stops(event)

    def learn(self, event: Event) -> None:
        """What the run's story keeps for its end: the plan's warnings (a re-plan's
        replace those of the plan before it)."""
        if isinstance(event, RunPlanned) and event.run_id == self.run_id:
            self.warnings = warning_lines(event.warnings, event.warnings_total)


def print_end(run_id: str, end: Event, *, as_json: bool, followed: Followed) -> int:
    """What `job run --wait` prints once the run ends, the plan's warnings last (as
    `job preview` says them); its exit code."""
    if followed.progress is not None:
        followed.progress.close()
    if as_json:
        print_json({"run_id": run_id, "end": end, "warnings": followed.warnings})
    else:
        out = sys.stdout if exit_code(end) == EXIT_OK else sys.stderr
        print(describe_end(run_id, end, followed.errors.all), file=out)
        for warning in followed.warnings:
            print(f"  warning: {warning}", file=out)
    return exit_code(end)
