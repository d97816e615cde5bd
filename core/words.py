"""How the core words what it found: values as a job file (or a record) shows them."""

from __future__ import annotations

import json
from datetime import date, datetime, time

from schemas.values import Binary

SLUG = "a slug (a-z, 0-9, - and _, starting with a letter or digit, up to 64 characters)"
"""What an id must be, in words."""


def got(value: str | None) -> str:
    """A setting found, or "nothing" for one left out."""
    return "nothing" if value is None else show(value)


def show(value: object) -> str:
    """A value as a job file or a record would spell it, cut short when long."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, datetime | date | time):
        text = value.isoformat()
    elif isinstance(value, Binary):
        text = f"binary data ({len(value.data)} bytes)"
    elif isinstance(value, list):
        text = "[" + ", ".join(show(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{ " + ", ".join(f"{k} = {show(v)}" for k, v in value.items()) + " }"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
