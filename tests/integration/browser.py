"""Debian's Chromium driven by Playwright for the portal's browser tests: never a
downloaded browser (`scripts/install-test-deps.sh` installs the Debian package). A test
skips, saying why, when either is missing. Screenshots go to test-artefacts/portal/."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "portal"
CHROMIUM = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium() -> str | None:
    return next((path for path in CHROMIUM if os.access(path, os.X_OK)), None) or shutil.which(
        "chromium"
    )


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("needs Playwright: pip install playwright (its browser is Debian's)")
    path = chromium()
    if path is None:
        pytest.skip("needs Chromium: apt-get install chromium (scripts/install-test-deps.sh)")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    args = [*ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=path, headless=True, args=args)
        try:
            yield launched
        finally:
            await launched.close()
