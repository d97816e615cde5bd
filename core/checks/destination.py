"""What `check_job` asks of the destination: each action the job asks of it is one its
provider can apply (refused now rather than failing every record of a run), a move has
somewhere to go, and objects it creates carry every field the destination requires."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from core.engine.containers import Scope, follows_container
from core.words import got
from schemas.jobs import Job, ObjectMapping

from .facts import ProviderFacts, Report
from .objects import endpoint_of


def check_actions(
    bad: Report,
    job: Job,
    provider: str,
    cans: Sequence[Collection[str]],
    every: Collection[str] = (),
) -> None:
    """`provider`: the destination's tag; `cans`: what it can apply to each type's
    objects (`every`: to any of its objects: a directory's users, where its groups have
    no account to disable)."""
    for i, (obj, can) in enumerate(zip(job.objects, cans, strict=True)):
        asked = (
            ("on_source_only", obj.on_source_only, ("create",)),
            ("on_both", obj.on_both, ("update",)),
            ("on_destination_only", obj.on_destination_only, ("delete", "disable", "move")),
        )
        for setting, action, options in asked:
            if action != "skip" and action not in can:
                choose = " or ".join([*(a for a in options if a in can), "skip"])
                text = cannot(job, provider, obj, action, every)
                bad(f"$.objects[{i}].{setting}", f"{text}; choose {choose}")
        if follows_container(obj) and "move" not in can:
            text = f"destination {job.destination.connection} ({provider}) cannot move"
            bad(
                f"$.objects[{i}].container_from",
                f"{text} its objects to the container their source record names (with "
                'on_both = "update"); leave container_from out',
            )
        moving = obj.on_destination_only == "move" and "move" in can
        if moving and not (obj.move_to or "").strip():
            where = 'the container on_destination_only = "move" moves objects to'
            example = '"ou=Former,dc=example,dc=org"'
            bad(
                f"$.objects[{i}].move_to",
                f"expected {where}, such as {example}, got {got(obj.move_to)}",
            )
        check_in_scope(bad, job, i, obj)


def check_in_scope(bad: Report, job: Job, i: int, obj: ObjectMapping) -> None:
    """Where a directory job puts objects that runs must find again lies within the
    destination's scope: the container of the objects it creates (out of it, each run
    would create them anew), and where it moves those it must restore or delete after
    `delete_after` (out of it, a returning record would be created a second time, and
    the object never deleted)."""
    endpoint = endpoint_of(job.destination, obj.destination)
    if not endpoint.container:
        return
    scope = Scope(endpoint.container, endpoint.include_subcontainers)
    below = "below or in" if scope.subtree else "right below"
    reads = f"expected a container the destination reads (one {below} {endpoint.container})"
    if obj.on_source_only == "create" and obj.container and not scope.holds(obj.container):
        bad(
            f"$.objects[{i}].container",
            f"{reads}, where the next run finds the objects created there, got {obj.container!r}",
        )
    if not (obj.restore or obj.delete_after):
        return
    leavers = obj.leavers
    moves = [
        (
            "move_to",
            obj.move_to,
            obj.on_destination_only in ("move", "disable")
            or (leavers is not None and leavers.action != "delete" and not leavers.move_to),
        ),
        (
            "leavers.move_to",
            leavers.move_to if leavers is not None else None,
            leavers is not None and leavers.action != "delete",
        ),
    ]
    why = " and ".join(
        what
        for what, asked in (("restore", obj.restore), ("delete_after", obj.delete_after))
        if asked
    )
    for setting, place, used in moves:
        if used and place and not scope.holds(place):
            bad(
                f"$.objects[{i}].{setting}",
                f"{reads}, where {why} finds the objects moved there again, got {place!r}",
            )


def cannot(job: Job, provider: str, obj: ObjectMapping, action: str, every: Collection[str]) -> str:
    """That the destination cannot apply `action` to the objects of `obj`, as a check says
    it: to any of its objects, or to those of that type (no account to disable)."""
    text = f"destination {job.destination.connection} ({provider}) cannot {action}"
    if action in every:
        text += f" a {obj.type}: only an account can be disabled and enabled"
    return text


def check_mandatory(bad: Report, job: Job, destination: str, facts: ProviderFacts) -> None:
    """A job that creates objects maps every field the destination requires of them.
    `destination`: the connection's id; `facts`: its provider's."""
    for i, obj in enumerate(job.objects):
        if obj.on_source_only != "create" or not obj.fields:
            continue  # nothing created, or every source field copied (known at run time)
        mapped = {f.to for f in obj.fields}
        endpoint = endpoint_of(job.destination, obj.destination)
        required = set(obj.keys) | facts.mandatory(endpoint, obj)
        missing = sorted(required - mapped)
        if missing:
            fields = ", ".join(f'"{name}"' for name in missing)
            bad(
                f"$.objects[{i}].fields",
                f"a new {obj.type} needs {fields} in {destination}: map them, or set "
                'on_source_only = "skip"',
            )


def check_read_only(bad: Report, job: Job, destination: str, facts: ProviderFacts) -> None:
    """A job maps no field the destination never writes (a key apart: only matched)."""
    for i, obj in enumerate(job.objects):
        endpoint = endpoint_of(job.destination, obj.destination)
        read_only = facts.read_only(endpoint, obj)
        keys = {key.lower() for key in obj.keys}
        for n, field in enumerate(obj.fields or ()):
            if field.to.lower() in read_only and field.to.lower() not in keys:
                bad(
                    f"$.objects[{i}].fields[{n}].to",
                    f"{field.to!r} is read-only in {destination} ({facts.tag}): the service "
                    f"sets it itself and refuses it from a job; leave it out of a {obj.type}'s "
                    "fields there (a source may read it)",
                )
