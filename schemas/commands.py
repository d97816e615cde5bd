"""Commands: a person's or a system's request, answered by a reply (never stored)."""

from __future__ import annotations

from typing import Literal

import msgspec


class RunCommand(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Run a job now. Published on idsync.cmd.<principal>.run; the reply carries the run id."""

    job_id: str
    keys: list[str] | None = None
    changed_only: bool = False
    """Only the records changed since the job's last run (the job needs `changes`)."""


RUN_KEYS_BYTES = 512 << 10
"""The most the keys of one SCIM push may take, encoded: its run command, and the
`run.requested` that carries them to the journal, stay well under NATS's 1 MiB message.
(The workflow takes a run command's keys up to the server's message size less a margin,
`keys_room`, and merges a burst of requests only as far.)"""


_encoder = msgspec.json.Encoder()


def keys_size(keys: list[str] | None) -> int:
    """The bytes `keys` take in a command or a run's request (encoded as JSON)."""
    return len(_encoder.encode(keys)) if keys else 0


class DecideCommand(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Approve or deny a run that waits for approval: idsync.cmd.<principal>.approve|deny."""

    run_id: str
    reason: str = ""
    plan: str = ""
    """An approval of the plan its approver saw: its hash, or the hash's start as the
    commands show it (12 characters). Refused when the run now waits with another plan
    (the data changed meanwhile); empty: whichever plan the run waits with."""


class JobDeleteCommand(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Delete a job: idsync.cmd.<principal>.job-delete (job-apply carries the Job itself,
    connection-apply a list of connections)."""

    job_id: str
    forget_history: bool = False
    """Also remove its runs from the journal and the run states, its watermark and the
    absences it recorded (by default the history stays: `idsync run list` shows it)."""


class CommandReply(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    run_id: str | None = None
    error: str | None = None
    retry: bool = False
    """The command failed for a passing reason (e.g. a full stream): asking later may work."""
    note: str = ""
    """What was done, when there is no run to name (e.g. "updated")."""
    waits_for: list[str] | None = None
    """A run command's run waits for the approval of these (its job's approvers; empty:
    none is a known user) before anything happens; None: it does not wait for anyone."""
    denied: bool = False
    """Refused because the sender may not do it (a role's permission, an owner's or an
    approver's right), not because of what the command says: asking again as someone
    who may, or after a grant, would succeed."""


_encoder = msgspec.json.Encoder()
run_command_decoder = msgspec.json.Decoder(RunCommand)
decide_command_decoder = msgspec.json.Decoder(DecideCommand)
reply_decoder = msgspec.json.Decoder(CommandReply)
job_delete_decoder = msgspec.json.Decoder(JobDeleteCommand)


def encode(message: msgspec.Struct) -> bytes:
    return _encoder.encode(message)


class DeadLetterCommand(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Retry or drop a dead letter: idsync.cmd.<principal>.deadletter (the workflow answers)."""

    action: Literal["retry", "drop"]
    seq: int


deadletter_command_decoder = msgspec.json.Decoder(DeadLetterCommand)


class CollectionCommand(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Run or delete a collection: idsync.cmd.<principal>.collection-run|collection-delete
    (collection-apply carries the Collection itself; collection-cancel a DecideCommand
    naming the collection run)."""

    collection_id: str


collection_command_decoder = msgspec.json.Decoder(CollectionCommand)


class TemplateDeleteCommand(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Delete a saved template: idsync.cmd.<principal>.template-delete (template-apply
    carries the Template itself)."""

    template_id: str


template_delete_decoder = msgspec.json.Decoder(TemplateDeleteCommand)
