"""The test DC's "is one running already" check (tests/ad_server.py): a DC whose process
lives but is slow to accept is waited for, not started a second time; a pid file naming
some other process is no DC."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import ad_server
from tests.ad_server import Samba


@pytest.fixture
def running_dc(tmp_path: Path) -> Iterator[int]:
    """A process named samba (a copy of sleep), as the pid file of a running DC names."""
    binary = tmp_path / "samba"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", binary)
    process = subprocess.Popen([str(binary), "600"])
    comm = Path(f"/proc/{process.pid}/comm")
    deadline = time.monotonic() + 10
    while comm.read_text().strip() != "samba":  # Popen may return before the child's exec
        assert time.monotonic() < deadline, "the stand-in never became samba"
        time.sleep(0.01)
    yield process.pid
    process.kill()
    process.wait()


class Starts:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, timeout: float = 30.0) -> None:
        self.count += 1


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> Starts:
    counted = Starts()
    monkeypatch.setattr(Samba, "_start", counted)
    return counted


def test_a_running_dc_slow_to_accept_is_waited_for_and_not_started_again(
    tmp_path: Path, running_dc: int, starts: Starts, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([False, False, True])  # busy: two connects time out, then it accepts
    monkeypatch.setattr(ad_server, "_answers", lambda port=636, timeout=0.2: next(answers))
    dc = Samba(tmp_path / "home")
    (dc.home / "samba.pid").write_text(str(running_dc))

    dc.acquire()

    assert starts.count == 0
    assert next(answers, "all asked") == "all asked"  # it asked until the DC answered
    assert (dc.users / str(os.getpid())).exists()


def test_a_pid_file_naming_another_program_is_no_dc(tmp_path: Path, starts: Starts) -> None:
    dc = Samba(tmp_path / "home")
    (dc.home / "samba.pid").write_text(str(os.getpid()))  # alive, but python

    dc.acquire()

    assert starts.count == 1
