"""`idsync up` with IDSYNC_PORTAL_PORT starts the portal with the services: its URL file,
a sign-in with the account `idsync up` made for whoever started it, and a clean stop."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx

from services.common.credentials import person_file, read_credentials

from .conftest import IDSYNC
from .test_up import plain_env


def test_up_starts_the_portal_when_a_port_is_set(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**plain_env(home), "IDSYNC_PORTAL_PORT": "0"}
    log = tmp_path / "up.log"
    up = subprocess.Popen([*IDSYNC, "up"], env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    try:
        url_file = home / "portal.url"
        deadline = time.monotonic() + 60
        while not (url_file.exists() and (home / "nats.url").exists()):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        url = url_file.read_text().strip()
        assert url.startswith("http://127.0.0.1:")
        password = read_credentials(person_file(home, "alice")).password
        with httpx.Client(base_url=url) as client:
            assert client.get("/signin").status_code == 200
            signed = client.post("/api/signin", json={"user": "alice", "password": password})
            assert signed.status_code == 200, signed.text
            assert client.get("/api/me").json()["principal"] == "alice"
            assert client.get("/api/jobs").json() == []
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=30)
    assert code == 0, log.read_text()
