"""`idsync doctor`: is everything idsync needs there, and what to fix when it is not."""

from __future__ import annotations

import argparse

import httpx
import msgspec
import nats.js.errors
from nats.js.api import DiscardPolicy, StreamConfig

from core.errors import IdsyncError, Unreachable
from schemas.ids import utcnow
from schemas.subjects import command_subject
from services.common.jetstream import (
    BUCKETS,
    CONSUMERS,
    DEADLETTERS,
    JOURNAL,
    PLANS_BUCKET,
    WORK,
    stream_configs,
)
from services.common.runners import runners
from services.common.settings import METRICS_URL_FILE, Settings
from services.providers import check_reachable
from services.providers.reach import writers

from .client import Session, connect
from .output import print_json

EXIT_PROBLEMS = 6
FULL = 0.8  # a stream this full is reported before it refuses events
HEALTH_TIMEOUT = 5.0  # seconds a service's /readyz may take


class Finding(msgspec.Struct, frozen=True):
    ok: bool
    what: str
    detail: str


async def doctor(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        server = session.nc.connected_url
        where = server.netloc if server is not None else session.settings.resolve_nats_url()
        findings = [Finding(True, "nats", f"connected to {where}")]
        findings += await _streams(session)
        findings += await _consumers(session)
        findings += await _buckets(session)
        findings += await _commands(session)
        findings += await _runners(session)
        findings += await services_health(session.settings)
        findings += await _connections(session)
    if args.json:
        print_json(findings)
    else:
        for finding in findings:
            print(f"{'✓' if finding.ok else '✗'} {finding.what}: {finding.detail}")
        problems = sum(not f.ok for f in findings)
        print(f"\n{problems} problem(s)" if problems else "\nall is well")
    return 0 if all(f.ok for f in findings) else EXIT_PROBLEMS


# What to raise when a stream fills up: its size limit's setting.
_SIZE_SETTING = {
    JOURNAL: "IDSYNC_JOURNAL_MAX_BYTES or shorten IDSYNC_JOURNAL_MAX_AGE_DAYS",
    WORK: "IDSYNC_WORK_MAX_BYTES",
    DEADLETTERS: "IDSYNC_JOURNAL_MAX_BYTES, or retry or drop the dead letters",
}


def stream_findings(
    config: StreamConfig, found_as: StreamConfig, messages: int, used: int
) -> list[Finding]:
    """What a stream as the server has it (`found_as`) says next to how the services
    make it (`config`): a discard policy other than theirs, and how full it is — a
    problem only for a stream that refuses messages when full (the runs' log lines drop
    their oldest instead)."""
    name = str(config.name)
    found: list[Finding] = []
    if found_as.discard != config.discard:
        want, have = ("new", "old") if config.discard == DiscardPolicy.NEW else ("old", "new")
        found.append(
            Finding(
                False,
                f"stream {name}",
                f"discard={have} when full, the services set discard={want}: start a service",
            )
        )
    limit = found_as.max_bytes or 0
    share = used / limit if limit > 0 else 0.0
    detail = f"{messages:,} messages, {used:,} bytes" + (
        f" of {limit:,} ({share:.0%})" if limit > 0 else ""
    )
    refuses = config.discard == DiscardPolicy.NEW
    if share >= FULL and refuses:
        detail += f" — nearly full: raise {_SIZE_SETTING.get(name, 'its size limit')}"
    elif share >= FULL:
        detail += " — its oldest messages go as new ones come"
    found.append(Finding(share < FULL or not refuses, f"stream {name}", detail))
    return found


async def _streams(session: Session) -> list[Finding]:
    found: list[Finding] = []
    for config in stream_configs(session.settings):
        name = str(config.name)
        try:
            info = await session.js.stream_info(name)
        except nats.js.errors.NotFoundError:
            found.append(
                Finding(
                    False,
                    f"stream {name}",
                    "missing: start the services once "
                    "(`idsync up` or `idsync serve …`), they create it",
                )
            )
            continue
        found += stream_findings(config, info.config, info.state.messages, info.state.bytes)
    return found


async def _consumers(session: Session) -> list[Finding]:
    found: list[Finding] = []
    for spec in CONSUMERS:
        what = f"consumer {spec.name}"
        try:
            info = await session.js.consumer_info(spec.stream, spec.name)
        except nats.js.errors.NotFoundError:
            found.append(Finding(False, what, "missing: start the services once"))
            continue
        idle = info.num_pending > 0 and info.num_waiting == 0 and info.num_ack_pending == 0
        detail = (
            f"{info.num_pending} waiting, {info.num_ack_pending} in progress, "
            f"{info.num_waiting} pull requests"
        )
        if idle:
            detail += f" — nobody is consuming: is a {spec.name.split('-')[0]} service running?"
        found.append(Finding(not idle, what, detail))
    return found


async def _buckets(session: Session) -> list[Finding]:
    found: list[Finding] = []
    for bucket in BUCKETS:
        try:
            status = await (await session.js.key_value(bucket)).status()
            found.append(Finding(True, f"bucket {bucket}", f"{status.values} values"))
        except nats.js.errors.BucketNotFoundError:
            found.append(Finding(False, f"bucket {bucket}", "missing: start the services once"))
    try:
        await session.js.object_store(PLANS_BUCKET)
        found.append(Finding(True, f"object store {PLANS_BUCKET}", "present"))
    except nats.js.errors.BucketNotFoundError:
        found.append(Finding(False, f"object store {PLANS_BUCKET}", "missing"))
    return found


async def _commands(session: Session) -> list[Finding]:
    probe = command_subject("anyone", "run")
    try:
        stream = await session.js.find_stream_name_by_subject(probe)
    except nats.js.errors.NotFoundError:
        return [Finding(True, "commands", "captured by no stream, as they must be")]
    return [
        Finding(
            False,
            "commands",
            f"stream {stream} captures {probe}: run commands get "
            "its acknowledgement instead of an answer; remove that subject from it",
        )
    ]


async def _runners(session: Session) -> list[Finding]:
    now = utcnow()
    found = await runners(session.js)
    if not found:
        return [
            Finding(
                False,
                "runners",
                "none has reported: nothing will be applied; start "
                "one with `idsync up` or `idsync serve runner`",
            )
        ]
    return [
        Finding(
            not runner.silent_for(now),
            f"runner {runner.runner_id}",
            f"silent for {runner.silent_for(now):.0f}s"
            if runner.silent_for(now)
            else "alive"
            + (f", working on {'; '.join(runner.working)}" if runner.working else ", idle"),
        )
        for runner in found
    ]


def health_urls(settings: Settings) -> list[str]:
    """IDSYNC_HEALTH_URLS, else the metrics port `idsync up` (IDSYNC_METRICS_PORT=0) wrote."""
    if settings.health_urls:
        return list(settings.health_urls)
    written = settings.home / METRICS_URL_FILE
    return [written.read_text().strip()] if written.is_file() else []


async def services_health(settings: Settings) -> list[Finding]:
    """Each service process's readiness, as its /readyz says (services/common/health.py)."""
    found: list[Finding] = []
    async with httpx.AsyncClient(timeout=HEALTH_TIMEOUT) as client:
        for url in health_urls(settings):
            what = f"services at {url}"
            try:
                answer = await client.get(f"{url.rstrip('/')}/readyz")
            except httpx.HTTPError as error:
                said = str(error) or type(error).__name__
                found.append(Finding(False, what, f"do not answer: {said}"))
                continue
            if answer.status_code == 200:
                found.append(Finding(True, what, "ready"))
                continue
            try:
                missing = "; ".join(answer.json().get("missing", [])) or answer.text
            except ValueError:
                missing = answer.text.strip()
            found.append(Finding(False, what, f"not ready ({answer.status_code}): {missing}"))
    return found


async def _connections(session: Session) -> list[Finding]:
    found: list[Finding] = []
    try:
        connections = await session.store.connections()
    except Unreachable as error:  # no bucket: the services never started here
        return [Finding(False, "connections", str(error))]
    jobs = await session.store.jobs()
    for connection in connections:
        try:
            said = await check_reachable(connection, writers(jobs, connection.id))
            found.append(Finding(True, f"connection {connection.id}", said))
        except IdsyncError as error:
            found.append(Finding(False, f"connection {connection.id}", str(error)))
    return found
