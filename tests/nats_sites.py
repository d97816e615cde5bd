"""A hub and a site's leaf node on loopback: the hub with JetStream (domain "hub") and a
leafnode port, the leaf with no JetStream of its own, linked to the hub through a
CutProxy so a test can take the link down and bring it back. Stopped by pid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.common.embedded import nats_server_binary
from tests.cut_proxy import CutProxy
from tests.nats_cluster import free_port

DOMAIN = "hub"


class Server:
    """One nats-server from a configuration file, on ports picked beforehand."""

    def __init__(self, name: str, directory: Path, config: str) -> None:
        self.name = name
        self.directory = directory
        self.port = free_port()
        self.monitor_port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / f"{name}.conf"
        self.config.write_text(
            f"server_name: {name}\nlisten: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n{config}"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        self.process = subprocess.Popen(
            [
                str(nats_server_binary()),
                "-c",
                str(self.config),
                "-l",
                str(self.directory / f"{self.name}.log"),
                "-P",
                str(self.directory / f"{self.name}.pid"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited; see {self.directory}")
            try:
                url = f"http://127.0.0.1:{self.monitor_port}/healthz"
                with urllib.request.urlopen(url, timeout=1) as answer:  # loopback only
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.name} not healthy within {timeout}s")

    def leaf_links(self) -> int:
        """Leaf nodes connected to this server now (its monitoring port says)."""
        url = f"http://127.0.0.1:{self.monitor_port}/leafz"
        with urllib.request.urlopen(url, timeout=10) as answer:  # loopback only
            return int(json.load(answer).get("leafnodes", 0))

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class Site:
    hub: Server
    leaf: Server
    link: CutProxy
    """Between the leaf and the hub's leafnode port."""

    def wait_linked(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.hub.leaf_links() < 1:
            if time.monotonic() > deadline:
                raise AssertionError(f"the leaf did not link to the hub within {timeout}s")
            time.sleep(0.05)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    leafnodes = free_port()
    hub = Server(
        "hub",
        tmp_path / "hub",
        f'jetstream {{ store_dir: "{tmp_path / "hub" / "js"}", domain: {DOMAIN} }}\n'
        # Not advertised: the leaf knows the hub only through the link a test can cut.
        f"leafnodes {{ listen: 127.0.0.1:{leafnodes}, no_advertise: true }}\n",
    )
    link = CutProxy(leafnodes)
    leaf = Server(
        "leaf",
        tmp_path / "leaf",
        # Try the hub again every second when the link is down.
        'leafnodes { reconnect: "1s", remotes [ { url: '
        f'"nats-leaf://127.0.0.1:{link.port}" }} ] }}\n',
    )
    built = Site(hub, leaf, link)
    try:
        hub.start()
        leaf.start()
        built.wait_linked()
        yield built
    finally:
        leaf.stop()
        hub.stop()
        link.close()
