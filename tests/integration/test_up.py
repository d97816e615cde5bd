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
        for _ in range(200):
            if url_file.exists():
                break
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
            stderr=subprocess.DEVNULL,
            text=True,
        )
        time.sleep(1.0)  # the tail subscribes before the run starts
        run = idsync(home, "job", "run", "hr-to-db", "--wait")
        assert run.returncode == 0, run.stderr
        assert "12 created" in run.stdout
        tail.send_signal(signal.SIGINT)
        lines = tail.communicate(timeout=20)[0].splitlines()
        kinds = [json.loads(line)["type"] for line in lines]
        assert kinds[0] == "run.requested" and kinds[-1] == "run.finished"
        assert all(json.loads(line)["job_id"] == "hr-to-db" for line in lines)
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
