"""`idsync history KEY` that finds no change says within which filters it looked."""

from __future__ import annotations

from services.cli.history import nothing_recorded


def test_no_change_within_since_is_not_said_to_be_none_at_all() -> None:
    assert nothing_recorded("1040", None, "2m") == (
        "no change to '1040' recorded since 2m (older changes: leave out --since)"
    )


def test_no_change_at_all() -> None:
    assert nothing_recorded("1040", "hr-to-dir", None) == (
        "no change to '1040' recorded by job hr-to-dir"
    )
