"""Sites: networks only their own runners reach (through a NATS leaf node).

A connection names the site its system lives in (`site`, empty: the central network);
a job lives in the site of its source or its destination — both in one site, or one
central — and its runs are planned and applied by that site's runners alone."""

from __future__ import annotations

from collections.abc import Mapping

from core.errors import BadInput
from schemas.connections import Connection
from schemas.jobs import Job


def site_of(job: Job, connections: Mapping[str, Connection]) -> str:
    """The site the job's runs belong to; empty: central. BadInput when its source and
    destination live in two different sites (no runner reaches both)."""
    sites = {
        connection.site
        for endpoint in (job.source, job.destination)
        if (connection := connections.get(endpoint.connection)) is not None and connection.site
    }
    if len(sites) > 1:
        raise BadInput(site_problem(job, connections))
    return next(iter(sites), "")


def site_problem(job: Job, connections: Mapping[str, Connection]) -> str:
    named = [
        f"{side} {endpoint.connection!r} in site {connection.site!r}"
        for side, endpoint in (("source", job.source), ("destination", job.destination))
        if (connection := connections.get(endpoint.connection)) is not None and connection.site
    ]
    return (
        f"the job's {' and '.join(named)}: no runner reaches two sites; copy through a "
        "central connection in two jobs, or put both in one site"
    )
