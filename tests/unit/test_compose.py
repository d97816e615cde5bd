"""compose.yaml, checked without a container engine: a three-node NATS cluster with
JetStream, every idsync service a real `idsync` command, runners free to scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.cli.main import build_parser
from services.common.service_names import SERVICES

COMPOSE = Path(__file__).parents[2] / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def idsync_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if "build" in s}


def test_nats_is_a_three_node_cluster_with_jetstream(compose: dict[str, Any]) -> None:
    nodes = {
        n: s for n, s in compose["services"].items() if str(s.get("image", "")).startswith("nats")
    }
    assert len(nodes) == 3
    for name, node in nodes.items():
        command = node["command"]
        assert "-js" in command and "--cluster_name" in command
        assert command[command.index("--server_name") + 1] == name
        routes = command[command.index("--routes") + 1].split(",")
        assert sorted(routes) == sorted(f"nats://{n}:6222" for n in nodes)


def test_every_service_command_is_a_real_idsync_command(compose: dict[str, Any]) -> None:
    parser = build_parser()
    served = []
    for name, service in idsync_services(compose).items():
        if service.get("profiles"):
            continue  # tools, run on demand
        args = parser.parse_args(service["command"])  # exits on anything idsync rejects
        assert args.noun == "serve", name
        served.extend(args.services)
    assert sorted(served) == sorted(SERVICES), "each service runs, once"


def test_services_reach_every_node_and_keep_three_copies(compose: dict[str, Any]) -> None:
    for service in idsync_services(compose).values():
        environment = service["environment"]
        urls = environment["IDSYNC_NATS_URL"].split(",")
        assert sorted(urls) == [f"nats://nats-{n}:4222" for n in (1, 2, 3)]
        assert environment["IDSYNC_REPLICAS"] == "3"


def test_runners_can_be_scaled(compose: dict[str, Any]) -> None:
    runner = compose["services"]["runner"]
    assert "container_name" not in runner and "ports" not in runner
