"""What the command line prints: tables, JSON, event lines and a progress bar."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

import msgspec

from core.run_texts import counts_line, duration
from core.run_texts import stats_line as stats_line  # for the commands that print it
from schemas.events import (
    CollectionEnded,
    CollectionRequested,
    CollectionStepEnded,
    CollectionStepStarted,
    Event,
    JobHistoryForgotten,
    RoleChanged,
    RunApproved,
    RunAwaitingApproval,
    RunBatchApplied,
    RunBatchDropped,
    RunCancelled,
    RunDenied,
    RunExpired,
    RunFailed,
    RunFinished,
    RunPlanned,
    RunRecordErrors,
    RunRequested,
    ScheduleMissed,
    ScheduleSkipped,
    tag_of,
)

_json = msgspec.json.Encoder()


def print_json(value: Any, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    out.write(msgspec.json.format(_json.encode(value), indent=2).decode() + "\n")


_LINE_BREAKS = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t"})
_UNSEEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00a0\u00ad\u1680\u180e\u2000-\u200f"
    "\u2028-\u202f\u205f-\u206f\u3000\ufeff]"
)
"""Characters a terminal shows as nothing, or as a plain space: other controls, a
no-break space, zero-width and other invisible marks, a byte order mark."""


def one_line(text: str) -> str:
    """A value shown on one line of a table or a plan: a line break (or a tab) inside it
    spelled `\\n` (`\\r`, `\\t`), so that it does not read as the next row; a character a
    terminal would not show (a no-break space, a zero-width space) spelled `\\u00a0`,
    so that an update that adds one does not look like no change at all."""
    text = text.translate(_LINE_BREAKS)
    if text.isascii() and text.isprintable():
        return text
    return _UNSEEN.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def shown_value(text: str) -> str:
    """A value as a table or a plan shows it: on one line (`one_line`), and in double
    quotes when spaces at its start or end matter — `" 1010 "`, not a `1010` that looks
    like the value without them (a value of spaces alone is quoted too). Exports keep
    values as they are."""
    text = one_line(text)
    return f'"{text}"' if text != text.strip() else text


def print_table(
    rows: Sequence[Sequence[str]], header: Sequence[str], out: TextIO | None = None
) -> None:
    out = out or sys.stdout
    if not rows:
        return
    rows = [[shown_value(str(cell)) for cell in row] for row in rows]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        out.write(
            "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            + "\n"
        )


def event_line(event: Event) -> str:
    """One readable line per event, for `idsync tail`."""
    detail = ""
    match event:
        case RunRequested(requested_by=who, trigger=trigger):
            detail = f"by {who} ({trigger})"
        case RunAwaitingApproval(reason=reason, plan_hash=plan_hash, approvers=approvers):
            detail = one_line(reason) + (f"; plan {plan_hash[:12]}" if plan_hash else "")
            detail += f"; approvers: {', '.join(approvers) or 'anyone'}"
        case RunApproved(approved_by=who, plan_hash=plan_hash):
            detail = f"by {who}" + (f" (plan {plan_hash[:12]})" if plan_hash else "")
        case RunDenied(by=who, reason=reason) | RunCancelled(by=who, reason=reason):
            said = reason and reason != f"cancelled by {who}"  # (a cancel's own words)
            detail = f"by {who}" + (f": {one_line(reason)}" if said else "")
        case RunExpired(reason=reason):
            detail = one_line(reason)
        case RunPlanned(counts=counts, batches=batches, plan_hash=plan_hash):
            detail = f"{counts_line(counts)}; {batches} batches; plan {plan_hash[:12]}"
            if event.errors_total:
                detail += f"; {event.errors_total} record errors"
            if event.warnings:  # the first: one that says absent objects are left alone
                total = max(event.warnings_total, len(event.warnings))
                detail += (
                    f"; {total} warning{'s' * (total != 1)} (idsync run show {event.run_id}), "
                    f"the first: {one_line(event.warnings[0])}"
                )
        case RunBatchApplied(batch=batch, batches=batches, stats=stats):
            detail = f"batch {batch}/{batches}: {stats.written} written, {stats.failed} failed"
        case RunBatchDropped(batch=batch, changes=changes, by=by):
            detail = f"batch {batch} ({changes} changes) dropped by {by}: counted as failed"
        case RunRecordErrors(batch=batch, errors=errors):
            detail = f"{len(errors)} more record errors of " + (
                f"batch {batch}" if batch is not None else "the plan"
            )
        case RunFinished(stats=stats, seconds=seconds):
            detail = f"{stats_line(stats)} in {duration(seconds)}"
        case RunFailed(reason=reason):
            detail = reason
        case ScheduleSkipped(schedule=name, busy_run=busy, busy_state=state):
            detail = f"schedule {name}: not started, run {busy} had not ended ({state})"
        case ScheduleMissed(schedule=name, missed_total=total):
            detail = f"schedule {name}: {total} fire times passed with no scheduler; one run now"
        case CollectionRequested(requested_by=who, trigger=trigger, steps=steps):
            detail = f"by {who} ({trigger}): " + " → ".join(step.job for step in steps)
        case CollectionStepStarted(step=step, steps=steps, job=job, step_run=run):
            detail = f"job {step}/{steps}: {job}, run {run}"
        case CollectionStepEnded(step=step, steps=steps, job=job, outcome=outcome):
            detail = f"job {step}/{steps}: {job} {outcome}"
        case CollectionEnded(outcome=outcome, steps=steps):
            detail = f"{outcome}: " + ", ".join(f"{s.job} {s.outcome}" for s in steps)
        case RoleChanged(change=change, by=by, grantee=grantee):
            detail = f"{change} by {by}" + (f": {grantee}" if grantee else "")
        case JobHistoryForgotten(by=by, runs=runs):
            detail = f"deleted by {by} with the history of {runs} runs"
    when = event.at.strftime("%H:%M:%S")
    return f"{when}  {tag_of(event):<22} {event.job_id}  {event.run_id}  {detail}".rstrip()


class Progress:
    """A progress bar on a terminal; nothing but the final line elsewhere."""

    def __init__(self, out: TextIO | None = None, width: int = 30) -> None:
        self.out = out or sys.stderr
        self.width = width
        self.total = 0
        self.done = 0
        self.started = time.monotonic()
        self.live = self.out.isatty()

    def start(self, total: int) -> None:
        self.total, self.done, self.started = total, 0, time.monotonic()
        self.draw()

    def advance(self, amount: int) -> None:
        # The plan counts objects; a batch, changes — an object restored and updated, or
        # created and then disabled, has two: the bar never passes its end.
        self.done += amount
        self.total = max(self.total, self.done)
        self.draw()

    def note(self, text: str) -> None:
        """A line above the bar (the bar is drawn again below it)."""
        if self.live:
            self.out.write("\r\x1b[K")
        print(text, file=self.out, flush=True)
        self.draw()

    def draw(self) -> None:
        if not self.live:
            return
        fraction = self.done / self.total if self.total else 1.0
        filled = int(self.width * fraction)
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        bar = "█" * filled + "░" * (self.width - filled)
        self.out.write(
            f"\r  {bar} {fraction:4.0%}  {self.done}/{self.total} changes  {rate:,.0f}/s "
        )
        self.out.flush()

    def close(self) -> None:
        if self.live:
            self.out.write("\n")
            self.out.flush()
