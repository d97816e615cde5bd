"""Every IDSYNC_* variable the code reads is in README.md's settings table or in
docs/notifications.md's, with the default the code has; neither lists one it ignores."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.common.settings import DEFAULT_SQLITE_BUSY_TIMEOUT, Settings

ROOT = Path(__file__).resolve().parents[2]
READ = re.compile(
    r"""(?:env|environ)(?:\.get\(|\[)\s*["'](IDSYNC_[A-Z0-9_]+)["']"""
    r"""|\(\s*"[a-z_]+",\s*"(IDSYNC_[A-Z0-9_]+)"\s*\)"""  # a table of (setting, variable)
)
ROW = re.compile(r"^\| (`IDSYNC_[A-Z0-9_]+`(?:, `IDSYNC_[A-Z0-9_]+`)*) \| ([^|]*) \|", re.M)


def read_by_the_code() -> set[str]:
    return {
        name
        for folder in ("services", "schemas")
        for path in (ROOT / folder).rglob("*.py")
        for found in READ.findall(path.read_text())
        for name in found
        if name
    }


def documented() -> dict[str, str]:
    """Variable → its default as the tables give it."""
    rows: dict[str, str] = {}
    for page in ("README.md", "docs/notifications.md"):
        for names, default in ROW.findall((ROOT / page).read_text()):
            for name in re.findall(r"IDSYNC_[A-Z0-9_]+", names):
                rows[name] = default.strip()
    return rows


def test_every_variable_read_is_documented_and_none_besides() -> None:
    read, rows = read_by_the_code(), documented()
    assert len(read) > 25, "the pattern finds what the code reads"
    assert sorted(read - set(rows)) == [], "read by the code, in no settings table"
    assert sorted(set(rows) - read) == [], "in a settings table, read by no code"


@pytest.mark.parametrize("name", sorted(documented()))
def test_a_numeric_default_is_the_codes(name: str) -> None:
    default = documented()[name]
    if not re.fullmatch(r"`[\d.]+`", default):
        return  # "—", a path, "1 GiB": said in words
    value = float(default.strip("`"))
    if name == "IDSYNC_SQLITE_BUSY_TIMEOUT":
        assert value == DEFAULT_SQLITE_BUSY_TIMEOUT
        return
    settings = Settings.from_env({"HOME": "/nonexistent"})
    assert value == getattr(settings, name.removeprefix("IDSYNC_").lower())
