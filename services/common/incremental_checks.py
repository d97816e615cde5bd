"""What `check_job` asks of incremental runs and the deprovisioning lifecycle."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from schemas.connections import Connection, PluginConnection
from schemas.jobs import Job
from services.runner.engine.lifecycle import has_lifecycle, leaver_container, ways_out
from services.runner.providers.capability_table import capabilities

from .errors import BadInput

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
