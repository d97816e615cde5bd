"""`--since` as the recorder compares it, and pages cut by rows and by size."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import BadInput
from services.cli.history import since
from services.recorder.answers import PAGE_BYTES, _cut

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_since_takes_a_duration_back_from_now_or_a_date() -> None:
    assert since("7d", NOW) == "2026-03-03T12:00:00+00:00"
    assert since("2026-01-31", NOW) == "2026-01-31T00:00:00+00:00"
    assert since("2026-01-31T10:00:00+02:00", NOW) == "2026-01-31T08:00:00+00:00"
    assert since(None, NOW) == ""
    with pytest.raises(BadInput, match="expected a duration"):
        since("last week", NOW)


def test_a_page_ends_at_its_limit_or_its_size_and_says_where_the_next_starts() -> None:
    assert _cut([1, 2, 3], 2, 10) == ([1, 2], 12)
    assert _cut([1, 2], 2, 0) == ([1, 2], None)
    big = ["x" * (PAGE_BYTES // 2)] * 3
    kept, after = _cut(big, 10, 0)
    assert len(kept) == 1 and after == 1
