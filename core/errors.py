"""One small hierarchy: every error a user can cause says what to fix."""

from __future__ import annotations


class IdsyncError(Exception):
    """Base of every error idsync raises on purpose."""

    exit_code = 1


class BadInput(IdsyncError):
    """Something a person wrote is wrong (a job file, a CSV, an argument): fix it and retry."""

    exit_code = 2


class Unreachable(IdsyncError):
    """A server (NATS, a database, a directory) did not answer: retrying later may succeed."""

    exit_code = 3


class Transient(IdsyncError):
    """A passing condition (a locked database, a timeout): the same work will be retried."""

    exit_code = 3


class RunFailed(IdsyncError):
    """A run ended without completing."""

    exit_code = 4


class NotFound(BadInput):
    """A job, connection or run that does not exist."""


class WriteFailed(IdsyncError):
    """A destination refused a write that will not succeed by retrying."""

    exit_code = 4


class StoreFull(Transient):
    """A stream refused a message because it is full (streams discard new messages when
    full, so nothing stored is ever dropped silently): free space or raise the limit."""

    exit_code = 3


class Refused(BadInput):
    """The NATS server refused this user something its permissions do not allow (or its
    credentials): ask for the right, or act as someone who has it."""


class Denied(BadInput):
    """The services refused a command because its sender may not do it (a role's
    permission, a job's owners, a run's approvers): ask for the right, or ask someone who
    has it."""


PERMANENT: tuple[type[IdsyncError], ...] = (BadInput, WriteFailed)
"""Errors no retry can mend — a person must change something first (a file, a folder's
permissions, a password). The runner ends a run `failed` at once on one, while planning
or applying a batch, with the error as the reason; every other error is retried after a
delay, and each failed attempt is reported on the run (`run.delivery-failed`)."""
