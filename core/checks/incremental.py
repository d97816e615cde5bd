"""What `check_job` asks of incremental runs and the deprovisioning lifecycle."""

from __future__ import annotations

from collections.abc import Mapping

from core.engine.lifecycle import has_lifecycle, leaver_container, ways_out
from schemas.connections import Connection
from schemas.jobs import Job

from .facts import ProviderFacts, Report, facts_of, provider_of
from .intervals import check_interval
from .objects import endpoint_of


def check_changes(
    bad: Report,
    job: Job,
    connections: Mapping[str, Connection],
    facts: Mapping[str, ProviderFacts],
) -> None:
    source = connections.get(job.source.connection)
    if job.changes is not None:
        provider = provider_of(source) if source is not None else ""
        native = source is not None and facts_of(source, facts).native_changes
        if job.changes.field is None and source is not None and not native:
            bad(
                "$.changes.field",
                f"expected the source field holding a timestamp or a change counter "
                f'(e.g. "modified_at"): {provider} has no change marker of its own, got none',
            )
        check_interval(bad, "$.changes.full_every", job.changes.full_every)
    target = connections.get(job.destination.connection)
    for i, obj in enumerate(job.objects):
        at = f"$.objects[{i}]"
        check_interval(bad, f"{at}.delete_after", obj.delete_after)
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
        endpoint = endpoint_of(job.destination, obj.destination)
        can = facts_of(target, facts).can_for(target, endpoint, obj)
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
                    f"destination {job.destination.connection} ({provider_of(target)}) cannot "
                    f"{action}; remove {setting} or choose a destination that can",
                )


def changed_only_refusal(
    job: Job, source: Connection | None, facts: Mapping[str, ProviderFacts]
) -> str | None:
    """Why `job` cannot run --changed-only, in words that fit its source (None when it
    can): the workflow refuses such a request at once, and a runner given one anyway
    fails it with these words."""
    if job.changes is not None:
        return None
    provider = provider_of(source) if source is not None else None
    if source is not None and facts_of(source, facts).native_changes:
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
