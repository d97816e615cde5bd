"""What every provider's reach test (`idsync connection test`, `idsync doctor`) shares:
which jobs write to a connection, and how a destination that cannot be written is told.
Each package's reach.py tests its own kind of connection; `check_reachable` in the
registry (__init__.py) picks it."""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import WriteFailed
from schemas.connections import Connection
from schemas.jobs import Job


def writers(jobs: Sequence[Job], connection_id: str) -> list[str]:
    """The jobs that write to the connection: its `check_reachable` checks writing too."""
    return [job.id for job in jobs if job.destination.connection == connection_id]


def refuse(connection: Connection, writers: Sequence[str], why: str | None) -> None:
    """WriteFailed when a job writes to a connection that cannot be written."""
    if why is not None and writers:
        jobs = f"jobs {', '.join(writers)} write" if writers[1:] else f"job {writers[0]} writes"
        raise WriteFailed(f"{connection.id}: {why}; {jobs} here")


def writable(why: str | None) -> str:
    """How a side that can (why is None) or cannot be written is described."""
    return "writable" if why is None else f"read-only: {why}; enough for a source only"
