"""Commands find the running instance from any folder: IDSYNC_HOME from the environment,
else the nearest `.idsync` folder up from the current one, else the per-user default
(`~/.local/state/idsync`), where `idsync up` started without IDSYNC_HOME keeps its store."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from services.common.settings import Settings

from .conftest import CONNECTIONS, IDSYNC, Files, RunServices, job_toml


def user_env(user_home: Path) -> dict[str, str]:
    """A person's environment with no IDSYNC_* variable at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDSYNC_", "XDG_"))}
    env.update(HOME=str(user_home), IDSYNC_PRINCIPAL="alice")
    return env


def idsync(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IDSYNC, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_idsync_up_anywhere_is_found_from_every_folder(tmp_path: Path) -> None:
    env = user_env(folder(tmp_path / "alice"))
    default = tmp_path / "alice" / ".local" / "state" / "idsync"
    log = tmp_path / "up.log"
    up = subprocess.Popen(
        [*IDSYNC, "up"],
        cwd=folder(tmp_path / "started-here"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    try:
        deadline = time.monotonic() + 60
        while not (default / "nats.url").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (default / "nats.url").exists(), log.read_text()
        files = Files(tmp_path / "job")
        files.write(count=3)
        files.connections.write_text(CONNECTIONS)
        files.job.write_text(job_toml())
        elsewhere = folder(tmp_path / "somewhere" / "else")
        applied = idsync(elsewhere, env, "connection", "apply", str(files.connections))
        assert applied.returncode == 0, applied.stderr
        listed = idsync(elsewhere, env, "connection", "list")
        assert listed.returncode == 0 and "hr" in listed.stdout, listed.stderr
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=30)
    assert code == 0, log.read_text()
    stopped = idsync(elsewhere, env, "job", "list")
    assert stopped.returncode == 3
    assert f"{elsewhere / '.idsync'}\n" in stopped.stderr
    assert f"{default} (the per-user default)" in stopped.stderr


async def test_the_nearest_idsync_folder_above_the_current_one(
    settings: Settings, services: RunServices, tmp_path: Path
) -> None:
    home = folder(tmp_path / "project" / ".idsync")
    (home / "nats.url").write_text(f"{settings.nats_url}\n")
    deep = folder(tmp_path / "project" / "jobs" / "hr")
    env = user_env(folder(tmp_path / "alice"))
    async with services():
        listed = idsync(deep, env, "job", "list")
    assert listed.returncode == 0, listed.stderr
    assert "no jobs yet" in listed.stdout
    (home / "nats.url").unlink()
    gone = idsync(deep, env, "job", "list")
    assert gone.returncode == 3
    assert f"{home} is the nearest .idsync folder" in gone.stderr
