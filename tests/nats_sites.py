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
from tests import ports
from tests.cut_proxy import CutProxy
from tests.nats_cluster import serves_on
from tests.ports import NotStarted, log_tail, start_on_free_ports

DOMAIN = "hub"


class Server:
    """One nats-server from a configuration file, on ports picked as it starts (again,
    on others, if one of them was taken before it could bind)."""

    def __init__(self, name: str, directory: Path, config: str, *, leafnodes: bool = False) -> None:
        self.name = name
        self.directory = directory
        self.extra = config
        self.leafnodes = leafnodes
        """Whether it listens for leaf nodes (on `leafnode_port`, not advertised)."""
        self.port = 0
        self.monitor_port = 0
        self.leafnode_port = 0
        self.config = directory / f"{name}.conf"
        self.log = directory / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        start_on_free_ports(lambda: self._start_once(timeout))

    def _start_once(self, timeout: float) -> None:
        self.port, self.monitor_port = ports.free_port(), ports.free_port()
        self.directory.mkdir(parents=True, exist_ok=True)
        text = (
            f"server_name: {self.name}\nlisten: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n{self.extra}"
        )
        if self.leafnodes:
            self.leafnode_port = ports.free_port()
            # Not advertised: a leaf knows the hub only through the link a test can cut.
            text += f"leafnodes {{ listen: 127.0.0.1:{self.leafnode_port}, no_advertise: true }}\n"
        self.config.write_text(text)
        self.log.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [
                str(nats_server_binary()),
                "-c",
                str(self.config),
                "-l",
                str(self.log),
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
                self.stop()
                raise NotStarted(f"{self.name} exited", log_tail(self.log))
            if self._healthy() and serves_on(self.monitor_port, self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise NotStarted(f"{self.name} not healthy within {timeout}s", log_tail(self.log))

    def _healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.monitor_port}/healthz"
            with urllib.request.urlopen(url, timeout=1) as answer:  # loopback only
                return bool(answer.status == 200)
        except OSError:
            return False

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
    hub = Server(
        "hub",
        tmp_path / "hub",
        f'jetstream {{ store_dir: "{tmp_path / "hub" / "js"}", domain: {DOMAIN} }}\n',
        leafnodes=True,
    )
    link: CutProxy | None = None
    leaf: Server | None = None
    try:
        hub.start()
        link = CutProxy(hub.leafnode_port)
        leaf = Server(
            "leaf",
            tmp_path / "leaf",
            # Try the hub again every second when the link is down.
            'leafnodes { reconnect: "1s", remotes [ { url: '
            f'"nats-leaf://127.0.0.1:{link.port}" }} ] }}\n',
        )
        leaf.start()
        built = Site(hub, leaf, link)
        built.wait_linked()
        yield built
    finally:
        if leaf is not None:
            leaf.stop()
        hub.stop()
        if link is not None:
            link.close()
