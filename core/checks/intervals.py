"""Intervals as jobs write them ("30s", "15m", "2h", "1d", "1h30m", "500ms"): one reading
for the checks that refuse a bad one and for the services that wait that long."""

from __future__ import annotations

import re

from core.errors import BadInput
from core.words import show

from .facts import Report

EXAMPLES = 'such as "30s", "15m", "2h", "1d" or "1h30m"'
# Units largest first, each at most once; `m(?!s)` keeps "500ms" from reading as minutes.
_INTERVAL = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?")
_UNIT_SECONDS = (86_400.0, 3_600.0, 60.0, 1.0, 0.001)


def parse_interval(text: str) -> float:
    """Seconds in "30s", "15m", "2h", "1d", "1h30m" or "500ms"."""
    match = _INTERVAL.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        raise BadInput(f"expected an interval {EXAMPLES}, got {show(text)}")
    groups = match.groups()
    seconds = sum(int(n) * unit for n, unit in zip(groups, _UNIT_SECONDS, strict=True) if n)
    if seconds <= 0:
        raise BadInput(f"expected an interval over zero {EXAMPLES}, got {show(text)}")
    return seconds


def check_interval(bad: Report, at: str, text: str | None) -> None:
    """Report an interval at `at` that does not read (nothing to check when None)."""
    if text is None:
        return
    try:
        parse_interval(text)
    except BadInput as e:
        bad(at, str(e))
