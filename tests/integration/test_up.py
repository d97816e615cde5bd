"""`idsync up` on a machine with nothing running: the embedded server, the URL file
that every other command finds, events on `idsync tail`, and a clean Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from .conftest import CONNECTIONS, IDSYNC, Files, job_toml


def plain_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDSYNC_")}
    env.update(IDSYNC_HOME=str(home), IDSYNC_PRINCIPAL="alice")
    return env


def idsync(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IDSYNC, *args], env=plain_env(home), capture_output=True, text=True, timeout=120
    )


def test_up_serves_every_command_through_its_url_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    up = subprocess.Popen(
        [*IDSYNC, "up"],
        env=plain_env(home),
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "up.log").open("w"),
    )
    tail = None
    try:
        url_file = home / "nats.url"
        deadline = time.monotonic() + 60
        while not url_file.exists():
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            assert time.monotonic() < deadline, "no URL file within 60 s"
            time.sleep(0.05)
        assert url_file.read_text().startswith("nats://127.0.0.1:")
        second = idsync(home, "up")
        assert second.returncode == 2 and "already up" in second.stderr

        files = Files(tmp_path / "job")
        files.write(count=12)
        files.connections.write_text(CONNECTIONS)
        files.job.write_text(job_toml())
        assert idsync(home, "connection", "apply", str(files.connections)).returncode == 0
        test = idsync(home, "connection", "test", "hr")
        assert test.returncode == 0 and "holds 1 files" in test.stdout
        assert idsync(home, "job", "apply", str(files.job)).returncode == 0

        tail = subprocess.Popen(
            [*IDSYNC, "tail", "--json"],
            env=plain_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert tail.stderr is not None and tail.stdout is not None
        # Said once the server has its subscriptions: the run's first event comes after.
        assert tail.stderr.readline().startswith("following ")
        run = idsync(home, "job", "run", "hr-to-db", "--wait")
        assert run.returncode == 0, run.stderr
        assert "12 created" in run.stdout
        # Up to the run's end, which the tail may print after --wait has returned.
        events: list[dict[str, str]] = []
        while not events or events[-1]["type"] != "run.finished":
            line = tail.stdout.readline()
            assert line, f"the tail stopped before the run's end: {events}"
            events.append(json.loads(line))
        # Stopped by SIGTERM: a SIGINT is ignored by a program started with SIGINT
        # ignored, as pytest is when a shell runs it in the background.
        tail.terminate()
        tail.communicate(timeout=20)
        assert events[0]["type"] == "run.requested"
        assert all(event["job_id"] == "hr-to-db" for event in events)
    finally:
        if tail is not None and tail.poll() is None:
            tail.kill()
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=30)
    log = (tmp_path / "up.log").read_text()
    assert code == 0, log
    assert not (home / "nats.url").exists(), "a clean stop removes the URL file"
    warned = [line for line in log.splitlines() if '"level": "warning"' in line]
    assert warned == [], "a normal start and stop warns of nothing"
