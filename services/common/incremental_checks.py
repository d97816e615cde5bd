"""What `check_job` asks of incremental runs and the deprovisioning lifecycle."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from core.engine.lifecycle import has_lifecycle, leaver_container, ways_out
from core.errors import BadInput
from schemas.connections import Connection, PluginConnection
from schemas.jobs import Job
from services.runner.providers.capability_table import capabilities

Report = Callable[[str, str], None]  # (field path, "expected ..., got ...")

NATIVE_CHANGES = frozenset({"ldap", "ad"})
"""Providers with a change marker of their own (modifyTimestamp, uSNChanged)."""


def check_changes(
    bad: Report,
    job: Job,
    connections: Mapping[str, Connection],
    parse_interval: Callable[[str], float],
) -> None:
    source = connections.get(job.source.connection)
    if job.changes is not None:
        provider = _tag(source) if source is not None else ""
        if job.changes.field is None and source is not None and provider not in NATIVE_CHANGES:
            bad(
                "$.changes.field",
                f"expected the source field holding a timestamp or a change counter "
                f'(e.g. "modified_at"): {provider} has no change marker of its own, got none',
            )
        _interval(bad, "$.changes.full_every", job.changes.full_every, parse_interval)
    target = connections.get(job.destination.connection)
    for i, obj in enumerate(job.objects):
        at = f"$.objects[{i}]"
        _interval(bad, f"{at}.delete_after", obj.delete_after, parse_interval)
        lasting = obj.delete_after is not None or obj.restore
        if lasting and not has_lifecycle(obj):
            bad(
                f"{at}.on_destination_only",
                'expected "disable" or "move" (here or as the leavers\' action) with '
                "delete_after or restore (objects are disabled or moved first, deleted or "
                f'restored later), got "{obj.on_destination_only}"',
            )
        if target is None:
            continue
        can = _actions(target)
        needed = []
        if obj.delete_after is not None:
            needed.append(("delete_after", "delete"))
        ways = ways_out(obj)
        if obj.restore and "disable" in ways:
            needed.append(("restore", "enable"))
        if obj.restore and ("move" in ways or leaver_container(obj)):
            needed.append(("restore", "move"))  # moved back
        for setting, action in needed:
            if action not in can:
                bad(
                    f"{at}.{setting}",
                    f"destination {job.destination.connection} ({_tag(target)}) cannot "
                    f"{action}; remove {setting} or choose a destination that can",
                )


def _interval(
    bad: Report, at: str, text: str | None, parse_interval: Callable[[str], float]
) -> None:
    if text is None:
        return
    try:
        parse_interval(text)
    except BadInput as e:
        bad(at, str(e))


def _tag(connection: Connection) -> str:
    return str(type(connection).__struct_config__.tag)


def _actions(connection: Connection) -> frozenset[str]:
    if isinstance(connection, PluginConnection):
        return frozenset(connection.actions)
    return frozenset(capabilities(_tag(connection)))


def changed_only_refusal(job: Job, source: Connection | None) -> str | None:
    """Why `job` cannot run --changed-only, in words that fit its source (None when it
    can): the workflow refuses such a request at once, and a runner given one anyway
    fails it with these words."""
    if job.changes is not None:
        return None
    provider = _tag(source) if source is not None else None
    if provider in NATIVE_CHANGES:
        how = (
            f'add changes = {{ full_every = "1d" }}: {provider} marks what changed itself, so '
            "no field is needed, and full_every says how often a scheduled run reads everything"
        )
    else:
        how = (
            'add changes = { field = "modified_at" }, the source field holding a timestamp or '
            "a change counter"
        )
        if provider is None:
            how += ' (a directory needs no field: changes = { full_every = "1d" })'
    return (
        f"job {job.id} says nothing about changes, so it cannot run --changed-only: "
        f"{how}; or run it without --changed-only"
    )
