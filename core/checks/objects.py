"""Checks of a job's object types and references that decoding cannot make.

Several [[objects]] entries need a destination that holds several kinds of objects (a
directory), each entry its own records on each side (else two types would read, and
act on, each other's objects), and distinct types; a `resolve` names a type of the job
and a field that type has.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from schemas.jobs import Endpoint, Job, ObjectMapping, ObjectScope

from .facts import ProviderFacts, Report


def endpoint_of(endpoint: Endpoint, scope: ObjectScope | None) -> Endpoint:
    """The job's endpoint with an object type's own scope put over it."""
    if scope is None:
        return endpoint
    own = {name: getattr(scope, name) for name in scope.__struct_fields__}
    return msgspec.structs.replace(endpoint, **{k: v for k, v in own.items() if v is not None})


def check_object_types(
    bad: Report, job: Job, source: ProviderFacts | None, destination: ProviderFacts | None
) -> None:
    """`source`, `destination`: the facts of the job's sides' providers (None: unknown)."""
    objects = job.objects
    if len(objects) > 1:
        if destination is not None and destination.one_object_type:
            text = f"expected one [[objects]] entry for {destination.tag}, got {len(objects)}"
            bad("$.objects", f"{text}: several object types need a directory provider")
        seen: dict[str, int] = {}
        scopes: dict[tuple[str, object], int] = {}
        for i, obj in enumerate(objects):
            if obj.type in seen:
                first = f"$.objects[{seen[obj.type]}]"
                text = f"expected a type of its own, got {obj.type!r} as {first}"
                bad(f"$.objects[{i}].type", text)
            seen.setdefault(obj.type, i)
            for side, provider, endpoint, scope in (
                ("source", source, job.source, obj.source),
                ("destination", destination, job.destination, obj.destination),
            ):
                if provider is None:
                    continue
                names, example = provider.own_scope
                mine = endpoint_of(endpoint, scope)
                own = (side, tuple(str(getattr(mine, name)) for name in names))
                if own in scopes:
                    bad(
                        f"$.objects[{i}].{side}",
                        f"expected this type's own records, such as {side} = {example}, "
                        f"got the same {side} as $.objects[{scopes[own]}]",
                    )
                scopes.setdefault(own, i)
    for i, obj in enumerate(objects):
        _check_references(bad, i, obj, objects)


def _check_references(
    bad: Report, i: int, obj: ObjectMapping, objects: Sequence[ObjectMapping]
) -> None:
    types = {o.type: o for o in objects}
    for j, fmap in enumerate(obj.fields):
        if fmap.resolve is None:
            continue
        at = f"$.objects[{i}].fields[{j}].resolve"
        target = types.get(fmap.resolve.type)
        if target is None:
            known = ", ".join(repr(t) for t in types)
            bad(
                f"{at}.type",
                f"expected the type of an [[objects]] entry ({known}), got {fmap.resolve.type!r}",
            )
            continue
        has = {*target.keys, *(f.to for f in target.fields)}
        if fmap.resolve.by not in has:
            bad(
                f"{at}.by",
                f"expected a key or a mapped field of {target.type!r} ({', '.join(sorted(has))}), "
                f"got {fmap.resolve.by!r}",
            )
        if fmap.to in obj.keys:
            bad(
                f"$.objects[{i}].fields[{j}]",
                f"expected a field that is not a key, got {fmap.to!r}",
            )
