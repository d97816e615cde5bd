"""What every provider's reach test (`idsync connection test`, `idsync doctor`) shares:
which jobs write to a connection, and how a destination that cannot be written is told.
Each package's reach.py tests its own kind of connection; `check_reachable` in the
registry (__init__.py) picks it."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from core.checks.objects import endpoint_of
from core.errors import WriteFailed
from schemas.connections import Connection
from schemas.jobs import Endpoint, Job, ObjectMapping

from .base import Layout
from .layouts import destination_layout

Side = tuple[Endpoint, Layout]
"""One object type's destination: its endpoint (a table, …) and the fields written there."""


class Writer(str):
    """A job that writes to a connection: its id (what every reach test names), and the
    sides it writes, for a reach test that can ask the server what the login may do to
    each (PostgreSQL, MySQL: the rights a run checks before planning)."""

    sides: tuple[Side, ...]

    def __new__(cls, job_id: str, sides: Sequence[Side] = ()) -> Writer:
        made = super().__new__(cls, job_id)
        made.sides = tuple(sides)
        return made


def writers(jobs: Sequence[Job], connection_id: str) -> list[Writer]:
    """The jobs that write to the connection: its `check_reachable` checks writing too."""
    return [
        Writer(job.id, [_side(job, mapping) for mapping in job.objects])
        for job in jobs
        if job.destination.connection == connection_id
    ]


def _side(job: Job, mapping: ObjectMapping) -> Side:
    """The object type's destination, with the fields a run writes there."""
    return endpoint_of(job.destination, mapping.destination), destination_layout(mapping)


def sides(writers: Sequence[str]) -> list[tuple[Side, list[str]]]:
    """Each side the writers write (a table once, however many jobs or types write it),
    with the jobs that write it. A plain id (no Writer) names no side."""
    found: dict[tuple[str | None, str | None], tuple[Side, list[str]]] = {}
    for writer in writers:
        for endpoint, layout in getattr(writer, "sides", ()):
            at = (endpoint.table, endpoint.query)
            (_, known), jobs = found.get(at, ((endpoint, layout), []))
            fields = tuple(dict.fromkeys([*known.fields, *layout.fields]))
            merged = msgspec.structs.replace(known, fields=fields)
            found[at] = ((endpoint, merged), jobs if writer in jobs else [*jobs, writer])
    return list(found.values())


def refuse_sides(connection: Connection, refused: Sequence[tuple[str, Sequence[str]]]) -> None:
    """WriteFailed naming, for each side a job writes that the login may not, why (the
    GRANT to give) and the jobs."""
    if refused:
        said = "; ".join(f"{why} ({_jobs(jobs)})" for why, jobs in refused)
        raise WriteFailed(f"{connection.id}: {said}")


def _jobs(writers: Sequence[str]) -> str:
    return f"jobs {', '.join(writers)} write" if writers[1:] else f"job {writers[0]} writes"


def refuse(connection: Connection, writers: Sequence[str], why: str | None) -> None:
    """WriteFailed when a job writes to a connection that cannot be written."""
    if why is not None and writers:
        raise WriteFailed(f"{connection.id}: {why}; {_jobs(writers)} here")


def writable(why: str | None) -> str:
    """How a side that can (why is None) or cannot be written is described."""
    return "writable" if why is None else f"read-only: {why}; enough for a source only"


def checked(
    said: Sequence[tuple[str, Sequence[str]]], why: str | None, *, listed: bool = True
) -> str:
    """How a database whose jobs' sides were checked is described (`said`: what was found
    of each side, the jobs that write it; `why` it cannot be written at all): writable
    only where a job's table was found so. Not `listed`: the login's rights come through
    a role, which the server does not list (MySQL), so none was refused."""
    if why is not None:
        return writable(why)
    if not said:
        return "the server takes writes; no job writes here: a table's rights are checked then"
    found = "writable" if listed else "not refused (rights through a role are not listed)"
    return f"{found}: " + "; ".join(f"{what} ({_jobs(jobs)} there)" for what, jobs in said)
