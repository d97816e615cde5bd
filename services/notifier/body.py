"""What a mail says about a run, as plain text and as HTML (pure).

Both say the same things in the same order: what happened, who asked and who
approved, how long it took, the counts, the errors, what to do next. Every value
from data goes through `html.escape` in the HTML part.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import datetime

from core.run_texts import COUNT_NAMES, STAT_NAMES, duration, keys_line, warning_lines
from core.runs import RunStory, approvers
from schemas.events import Event, RunAwaitingApproval, RunCancelled, RunFailed
from schemas.plan import RecordError, RunStats

MAX_ERRORS_LISTED = 50


def facts(title: str, run: RunStory, event: Event) -> list[tuple[str, str]]:
    """The run's particulars, as (label, value) lines."""
    lines = [("Job", f"{title} ({run.job_id})"), ("Run", run.run_id), ("State", run.state)]
    if run.reason:
        lines.append(("Reason", run.reason))
    if run.requested_by:
        asked = f"{run.requested_by} ({run.trigger})" if run.trigger else run.requested_by
        lines.append(("Requested by", f"{asked} at {_when(run.requested_at)}"))
    # "Approved by: workflow" on a mail asking for approval would read as if it had been
    # given: core/runs.py `approvers` leaves the workflow's out there.
    if approved := approvers(run):
        lines.append(("Approved by", ", ".join(approved)))
    if run.waited:
        lines.append(("Waited for approval", run.waited))
    if not isinstance(event, RunAwaitingApproval) and run.duration is not None:
        lines.append(("Duration", duration(run.duration)))
    if run.attempts > 1:
        lines.append(("Attempts", str(run.attempts)))
    if run.keys is not None:
        lines.append(("Scope", keys_line(run.keys)))
    if run.full_because:
        lines.append(("Full run", f"{run.full_because}: every record was read"))
    if run.staged:
        lines.append(("Staging", "the job is in staging: nothing was written"))
    return lines


NOT_PLANNED = (
    "not planned yet: the run reads and plans once it is approved (and waits again if its "
    "plan is over the job's safety limits)"
)
"""What an approval mail says of a request its job's approvers must answer before it is
planned: no count, rather than "0 create, 0 update, 0 delete" for a plan not made."""


def unplanned(run: RunStory, event: Event) -> bool:
    """A request waiting for approval before any plan (the job's approval policy)."""
    return isinstance(event, RunAwaitingApproval) and event.counts is None and run.planned is None


def counts_of(run: RunStory, event: Event) -> list[tuple[str, int]]:
    """What the run did; for a plan waiting for approval, what it would do (none for a
    request not yet planned: `unplanned`)."""
    if isinstance(event, RunAwaitingApproval):
        counts = event.counts or run.planned
        if counts is None:
            return []
        return [(name, int(getattr(counts, name))) for name in COUNT_NAMES]
    stats: RunStats = run.stats
    return [(name, int(getattr(stats, name))) for name in STAT_NAMES]


CUT_SHORT = (
    "Records, when it ended (a batch being applied then completes, and `idsync run show` counts it)"
)
"""The counts of a run cancelled or failed while it applied its plan: its end's, which a
batch in flight then does not count yet."""


def _heading(run: RunStory, event: Event) -> str:
    if isinstance(event, RunAwaitingApproval):
        return "Planned"
    if isinstance(event, RunCancelled | RunFailed) and run.plan_hash:
        return CUT_SHORT
    return "Records"


def next_steps(run: RunStory, event: Event) -> list[str]:
    if isinstance(event, RunAwaitingApproval):
        plan = f" --plan {event.plan_hash[:12]}" if event.plan_hash else ""
        shows = (
            "what a run would change now" if unplanned(run, event) else "every change of the plan"
        )
        return [
            f"idsync job preview {run.job_id}    (shows {shows})",
            f"idsync run approve {run.run_id}{plan}    (applies this plan)",
            f'idsync run deny {run.run_id} --reason "..."    (ends the run, writing nothing)',
        ]
    return [f"idsync run show {run.run_id}"]


def error_lines(errors: list[RecordError]) -> Iterator[str]:
    for error in errors[:MAX_ERRORS_LISTED]:
        yield f"{error.action} {error.key}: {error.message}"
    if len(errors) > MAX_ERRORS_LISTED:
        yield f"... and {len(errors) - MAX_ERRORS_LISTED} more"


def text(title: str, run: RunStory, event: Event, notes: list[str]) -> str:
    lines = [f"{label}: {value}" for label, value in facts(title, run, event)]
    heading = _heading(run, event)
    counted = ", ".join(f"{value} {name}" for name, value in counts_of(run, event))
    lines += ["", f"{heading}: {NOT_PLANNED if unplanned(run, event) else counted}"]
    if run.errors:
        lines += ["", f"Errors ({len(run.errors)}):"]
        lines += [f"  {line}" for line in error_lines(run.errors)]
    if run.warnings:
        lines += ["", f"Warnings ({run.warnings_total}):"]
        lines += [f"  {line}" for line in warning_lines(run.warnings, run.warnings_total)]
    if notes:
        lines += ["", *notes]
    lines += ["", "Next:" if isinstance(event, RunAwaitingApproval) else "More:"]
    lines += [f"  {step}" for step in next_steps(run, event)]
    return "\n".join(lines) + "\n"


def html_part(title: str, run: RunStory, event: Event, notes: list[str]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><th align='left'>{e(label)}</th><td>{e(value)}</td></tr>"
        for label, value in facts(title, run, event)
    )
    heading = _heading(run, event)
    counted = "".join(
        f"<td align='right'>{value}<br><small>{e(name)}</small></td>"
        for name, value in counts_of(run, event)
    )
    planned = (
        f"<p>{e(NOT_PLANNED)}</p>"
        if unplanned(run, event)
        else f"<table cellpadding='6' border='1'><tr>{counted}</tr></table>"
    )
    parts = [
        f"<h2>{e(title)}: {e(run.state)}</h2>",
        f"<table cellpadding='4'>{rows}</table>",
        f"<h3>{heading}</h3>{planned}",
    ]
    if run.errors:
        items = "".join(f"<li>{e(line)}</li>" for line in error_lines(run.errors))
        parts.append(f"<h3>Errors ({len(run.errors)})</h3><ul>{items}</ul>")
    if run.warnings:
        told = warning_lines(run.warnings, run.warnings_total)
        items = "".join(f"<li>{e(line)}</li>" for line in told)
        parts.append(f"<h3>Warnings ({run.warnings_total})</h3><ul>{items}</ul>")
    parts += [f"<p>{e(note)}</p>" for note in notes]
    steps = "".join(f"<li><code>{e(step)}</code></li>" for step in next_steps(run, event))
    parts.append(f"<ul>{steps}</ul>")
    return "<!DOCTYPE html><html><body>" + "\n".join(parts) + "</body></html>\n"


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment is not None else "-"
