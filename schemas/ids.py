"""Identifiers: slugs for jobs, connections and principals; run and event ids."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def is_slug(text: str) -> bool:
    """Job ids, connection ids and principals are slugs, so they are valid subject tokens."""
    return bool(SLUG.match(text))


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by time: 20261121T204800Z-3f9a1c."""
    now = now or utcnow()
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def scheduled_run_id(job_id: str, fire_at: datetime) -> str:
    """A run id derived from the schedule's fire time, so two schedulers agree on it."""
    return f"{fire_at.strftime('%Y%m%dT%H%M%SZ')}-s-{job_id}"


def new_event_id() -> str:
    return secrets.token_hex(12)
