"""README.md's "Using it", pasted as a new administrator would: `idsync up` in one
terminal, the second terminal's lines as they are written, in a home of their own."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACTIVATE = ". .venv/bin/activate"


def terminals() -> tuple[str, str]:
    """The section's two shell blocks: the first terminal's, the second's."""
    section = (ROOT / "README.md").read_text().split("## Using it\n")[1].split("\n## ")[0]
    first, second = re.findall(r"```sh\n(.*?)```", section, re.S)
    return first, second


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the SQLite shell: apt install sqlite3")
def test_the_first_hour_of_the_readme_works_as_pasted(tmp_path: Path) -> None:
    first, second = terminals()
    assert "idsync up" in first and second.startswith(ACTIVATE)
    # `idsync` on the PATH, as `. .venv/bin/activate` puts it there.
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    wrapper = bin_folder / "idsync"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m services.cli.main "$@"\n')
    wrapper.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDSYNC_", "XDG_"))}
    env.update(HOME=str(home), PATH=f"{bin_folder}:{env['PATH']}", PYTHONPATH=str(ROOT))
    # "In this folder": a copy of what the walkthrough reads, away from any .idsync here.
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "examples", checkout / "examples")
    log = tmp_path / "up.log"
    up = subprocess.Popen(
        ["idsync", "up"], cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w")
    )
    try:
        url = home / ".local" / "state" / "idsync" / "nats.url"
        deadline = time.monotonic() + 60
        while not url.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert url.exists(), log.read_text()
        script = second.removeprefix(ACTIVATE + "\n")
        pasted = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        up.send_signal(signal.SIGINT)
        stopped = up.wait(timeout=30)
    out = pasted.stdout
    assert pasted.returncode == 0, out + pasted.stderr
    assert stopped == 0, log.read_text()
    assert "applied job hr-to-sqlite" in out and "holds 2 files" in out
    assert "5 to create" in out and "5 created" in out
    assert "1 to create, 1 to update" in out and "4 unchanged" in out
    assert "update  1003  department: Finance → Legal" in out
    assert "exported" in out and (home / "idsync-first" / "plan.xlsx").exists()
    assert "1001|Tamesha Cornish|staff|sales" in out  # the table, as sqlite3 shows it
    assert "finished" in out and "1 created, 1 updated" in out  # run show, and its end
