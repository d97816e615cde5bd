"""What `make demo` and `make test` install."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")


def planned(target: str, venv: Path) -> str:
    """The commands `make TARGET` would run for a fresh virtualenv (make -n runs none)."""
    assert MAKE is not None
    return subprocess.run(
        [MAKE, "-n", target, f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.skipif(MAKE is None, reason="make is not installed (apt install make)")
def test_make_demo_installs_idsync_alone_and_make_test_the_dev_tools(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    demo = planned("demo", venv)
    assert "pip install --quiet -e .\n" in demo and "[dev]" not in demo
    assert demo.rstrip().endswith(f"{venv}/bin/idsync demo")
    for target in ("test", "lint", "format"):
        assert 'pip install --quiet -e ".[dev]"' in planned(target, venv)
