"""Which mails an event calls for (pure): the job's notifications matched to the event.

A recipient gets one mail per event, however many of the job's notifications name
them; recipients who asked for the same attachments share one mail. Approvers are
not modelled yet: when they are, they join the audiences of `run.awaiting-approval`
in `audiences`, and everything after it stays as it is.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from core.checks.addresses import BadAddress, parse_address
from schemas.events import (
    Event,
    RunAwaitingApproval,
    RunCancelled,
    RunFailed,
    RunFinished,
    RunPasswordsSealed,
    is_end,
)
from schemas.jobs import Job, NotifyTrigger
from schemas.plan import RunStats

ATTACHMENTS = ("csv", "xlsx")


class Mailing(msgspec.Struct, frozen=True, kw_only=True):
    """One mail about one event: who gets it and what is attached."""

    recipients: tuple[str, ...]
    attach: tuple[str, ...] = ()
    """Report formats, in ATTACHMENTS order."""
    label: str = ""
    """Tells apart mails with the same attachments (one per record recipient)."""

    @property
    def part(self) -> str:
        """Tells this event's mails apart in their Message-IDs ("plain", "csv", "csv-xlsx")."""
        return self.label or "-".join(self.attach) or "plain"


def fired(event: Event, *, withheld: bool = False) -> frozenset[NotifyTrigger]:
    """The triggers `event` fires; `withheld`: the run's plan acted on no absent object
    for source records it could not match (events.RunPlanned.absence_withheld), which
    an administrator must hear of as of a record error: deletes that did not happen."""
    if isinstance(event, RunAwaitingApproval):
        return frozenset({"approval"})
    if isinstance(event, RunPasswordsSealed):
        return frozenset({"password"})
    if not is_end(event):
        return frozenset()
    found: set[NotifyTrigger] = {"always"}
    stats = _stats(event)
    if stats.written > 0:
        found.add("changed")
    if stats.failed > 0 or (isinstance(event, RunFinished) and (event.with_errors or withheld)):
        found.add("errors")
    if isinstance(event, RunFailed):
        found.add("failed")
    return frozenset(found)


def asks_withheld(job: Job, event: Event) -> bool:
    """Whether the mails of `event` depend on the run's plan having withheld absence
    (`fired`): a finished run without record errors, of a job mailing on errors."""
    return (
        isinstance(event, RunFinished)
        and "errors" not in fired(event)
        and any(notification.trigger == "errors" for notification in job.notify)
    )


def _stats(event: Event) -> RunStats:
    if isinstance(event, RunFinished | RunFailed | RunCancelled):
        return event.stats
    return RunStats()  # denied or expired: nothing was written


def audiences(
    job: Job, event: Event, *, withheld: bool = False
) -> Iterable[tuple[str, str | None]]:
    """(recipient, attachment or None) for every notification of `job` that `event` fires."""
    triggers = fired(event, withheld=withheld)
    for notification in job.notify:
        if notification.trigger in triggers:
            # A mail with passwords carries them alone: never a report beside them.
            attach = None if notification.trigger == "password" else notification.attach
            for recipient in notification.recipients:
                yield recipient.strip(), attach


def _address_key(recipient: str) -> str:
    """One key per mailbox, whatever display name a notification gives it."""
    try:
        return parse_address(recipient).addr_spec.casefold()
    except BadAddress:
        return recipient.casefold()  # refused when the mail is built, with the reason


def mailings(job: Job, event: Event, *, withheld: bool = False) -> list[Mailing]:
    """The mails `event` calls for: one per distinct set of attachments asked for
    (`withheld`: as `fired` says)."""
    wanted: dict[str, set[str]] = {}
    spelled: dict[str, str] = {}  # the first spelling of each address, as the job wrote it
    for recipient, attach in audiences(job, event, withheld=withheld):
        key = _address_key(recipient)
        spelled.setdefault(key, recipient)
        formats = wanted.setdefault(key, set())
        if attach is not None:
            formats.add(attach)
    groups: dict[tuple[str, ...], list[str]] = {}
    for key, formats in wanted.items():
        kinds = tuple(kind for kind in ATTACHMENTS if kind in formats)
        groups.setdefault(kinds, []).append(spelled[key])
    return [
        Mailing(recipients=tuple(recipients), attach=attach)
        for attach, recipients in sorted(groups.items())
    ]
