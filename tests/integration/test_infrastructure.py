"""Only the services create and change streams, consumers and buckets: a command run
from a shell with other settings leaves a deployment's as they are, and a command run
before the services started says so instead of creating them."""

from __future__ import annotations

import asyncio
import subprocess

import msgspec
import pytest
import structlog.testing
from nats.js import JetStreamContext

from services.cli.client import connect
from services.common.jetstream import wait_for_infrastructure
from services.common.settings import Settings

from .conftest import IDSYNC, JOB_ID, Files, RunServices, env_for

# What the deployment's services run with: none of it the default.
DEPLOYED = {
    "journal_max_bytes": 64 << 20,
    "journal_max_age_days": 30.0,
    "work_max_bytes": 32 << 20,
    "ack_wait": 7.0,
    "max_deliver": 4,
}
# A shell without the deployment's environment: the defaults.
SHELL = {
    "IDSYNC_JOURNAL_MAX_BYTES": str(1 << 30),
    "IDSYNC_JOURNAL_MAX_AGE_DAYS": "90",
    "IDSYNC_WORK_MAX_BYTES": str(1 << 30),
    "IDSYNC_ACK_WAIT": "30",
    "IDSYNC_MAX_DELIVER": "10",
}
# Replicas other than the deployment's (the test's server is one node, so its 1 is
# compared with a cluster's 3, the other way round).
OTHER_REPLICAS = {"IDSYNC_REPLICAS": "3"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, **DEPLOYED)


async def idsync(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [*IDSYNC, *args],
        env=env_for(settings, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def configurations(js: JetStreamContext) -> dict[str, dict[str, object]]:
    """Every stream's configuration (buckets' included) and every durable consumer's."""
    found: dict[str, dict[str, object]] = {}
    for stream in await js.streams_info():
        name = str(stream.config.name)
        found[f"stream {name}"] = stream.config.as_dict()
        for consumer in await js.consumers_info(name):
            if consumer.config.durable_name:  # not a reader's ephemeral ordered consumer
                found[f"consumer {name}/{consumer.name}"] = consumer.config.as_dict()
    return found


@pytest.mark.parametrize("shell", [SHELL, OTHER_REPLICAS], ids=["limits", "replicas"])
async def test_commands_change_no_stream_or_consumer_of_the_deployment(
    settings: Settings, files: Files, services: RunServices, shell: dict[str, str]
) -> None:
    files.write(count=5)
    async with services(), connect(settings) as session:
        before = await configurations(session.js)
        journal = before["stream IDSYNC_JOURNAL"]
        assert journal["max_bytes"] == DEPLOYED["journal_max_bytes"], "set by the services"
        assert before["consumer IDSYNC_JOURNAL/runner"]["max_deliver"] == DEPLOYED["max_deliver"]
        for args in (
            ("connection", "apply", str(files.connections)),
            ("job", "apply", str(files.job)),
            ("job", "run", JOB_ID, "--wait"),
        ):
            result = await idsync(settings, *args, **shell)
            assert result.returncode == 0, f"{args}: {result.stderr}"
        after = await configurations(session.js)
    assert after == before


async def test_a_command_before_the_services_started_says_so_and_creates_nothing(
    settings: Settings, files: Files
) -> None:
    files.write(count=5)
    for args in (
        ("connection", "apply", str(files.connections)),
        ("job", "apply", str(files.job)),
        ("job", "list"),
        ("run", "list"),
    ):
        result = await idsync(settings, *args)
        assert result.returncode == 3, f"{args}: {result.stdout}{result.stderr}"
        assert "the idsync services have not started here" in result.stderr, result.stderr
        assert "idsync up" in result.stderr
    async with connect(settings) as session:
        assert await session.js.streams_info() == []


async def test_a_service_waiting_for_the_workflow_warns_only_when_it_does_not_come(
    settings: Settings,
) -> None:
    async with connect(settings) as session:
        with structlog.testing.capture_logs() as logs:
            waiting = asyncio.create_task(
                wait_for_infrastructure(session.js, every=0.05, patience=0.5)
            )
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiting), 1.5)
            waiting.cancel()
    warned = [e for e in logs if e["log_level"] == "warning"]
    assert len(warned) == 1 and "is it running?" in warned[0]["event"]
    assert warned[0]["waited"] >= 0.5, "not before its patience ran out"
