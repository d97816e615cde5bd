"""Identifiers: slugs for jobs, connections and principals; run and event ids."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def is_slug(text: str) -> bool:
    """Job ids, connection ids and principals are slugs, so they are valid subject tokens."""
    return bool(SLUG.match(text))


def _token(size: int) -> str:
    """`size` random bytes in hex: secrets.token_hex, without importing `secrets` (and
    `hashlib`, `random`) in every process that reads an event (`idsync job run`)."""
    return os.urandom(size).hex()


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by time: 20261121T204800Z-3f9a1c."""
    now = now or utcnow()
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{_token(3)}"


def scheduled_run_id(job_id: str, fire_at: datetime) -> str:
    """A run id derived from the schedule's fire time, so two schedulers agree on it."""
    return f"{fire_at.strftime('%Y%m%dT%H%M%SZ')}-s-{job_id}"


def new_event_id() -> str:
    return _token(12)


_STEP = re.compile(r"^(\d{8}T\d{6}Z-c[0-9a-f]{6})-(\d+)$")


def new_collection_run_id(now: datetime | None = None) -> str:
    """A collection run's id: 20261121T204800Z-c3f9a1c."""
    now = now or utcnow()
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-c{_token(3)}"


def scheduled_collection_run_id(collection_id: str, fire_at: datetime) -> str:
    """A scheduled collection run's id, from the fire time (two schedulers agree on it):
    the collection id's digest keeps it in the form `step_of` reads."""
    import hashlib

    digest = hashlib.sha256(collection_id.encode()).hexdigest()[:6]
    return f"{fire_at.strftime('%Y%m%dT%H%M%SZ')}-c{digest}"


def step_run_id(collection_run: str, step: int) -> str:
    """The run of a collection run's job number `step` (from 1): known before it starts."""
    return f"{collection_run}-{step}"


def step_of(run_id: str) -> tuple[str, int] | None:
    """(collection run, step) of a run that is a collection's step; None for any other."""
    found = _STEP.match(run_id)
    return (found[1], int(found[2])) if found else None
