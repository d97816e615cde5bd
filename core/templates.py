"""Templates made from jobs and collections, and jobs and collections made from
templates (pure). A job's template keeps everything but its source and destination;
using it gives them, and the values of its parameters: `${name}` anywhere in its text."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from core.errors import BadInput
from schemas.collections import Collection
from schemas.jobs import Endpoint, Job
from schemas.templates import Template

_PLACE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
EMPTY = Endpoint(connection="")
"""A template's source and destination: each job made from it names its own."""


def of_job(
    job: Job, template_id: str, title: str = "", owners: list[str] | None = None
) -> Template:
    kept = msgspec.structs.replace(job, id=template_id, source=EMPTY, destination=EMPTY)
    return Template(
        id=template_id,
        kind="job",
        title=title or job.display_title,
        description=job.description,
        owners=job.owners if owners is None else owners,
        job=kept,
    )


def of_collection(
    collection: Collection, template_id: str, title: str = "", owners: list[str] | None = None
) -> Template:
    return Template(
        id=template_id,
        kind="collection",
        title=title or collection.display_title,
        description=collection.description,
        owners=collection.owners if owners is None else owners,
        collection=msgspec.structs.replace(collection, id=template_id),
    )


def placeholders(template: Template) -> set[str]:
    """The parameter names its text uses."""
    found: set[str] = set()

    def note(text: str) -> str:
        found.update(_PLACE.findall(text))
        return text

    _walk(msgspec.to_builtins(template.job or template.collection), note)
    return found


def values_for(template: Template, given: Mapping[str, str]) -> dict[str, str]:
    """Each parameter's value: given, else its default; BadInput naming those missing or
    unknown."""
    used = placeholders(template) | set(template.parameters)
    unknown = sorted(set(given) - used)
    if unknown:
        known = ", ".join(sorted(used)) or "none"
        raise BadInput(
            f"template {template.id} has no parameter {', '.join(unknown)} (it has: {known})"
        )
    values = {name: given.get(name, template.parameters.get(name, "")) for name in used}
    missing = sorted(name for name, value in values.items() if not value)
    if missing:
        raise BadInput(
            f"template {template.id} needs "
            + ", ".join(f"--set {name}=…" for name in missing)
            + (f" ({template.notes})" if template.notes else "")
        )
    return values


def job_from(
    template: Template,
    job_id: str,
    source: Endpoint,
    destination: Endpoint,
    given: Mapping[str, str] | None = None,
    title: str = "",
) -> Job:
    """The job the template makes with this source and destination."""
    if template.job is None:
        raise BadInput(
            f"template {template.id} makes a collection: `idsync template use` it without --source"
        )
    values = values_for(template, given or {})
    data = _walk(msgspec.to_builtins(template.job), lambda t: _fill(t, values))
    data.update(id=job_id, title=title or template.job.title or template.display_title)
    job = msgspec.convert(data, Job)
    return msgspec.structs.replace(job, source=source, destination=destination)


def collection_from(
    template: Template, collection_id: str, given: Mapping[str, str] | None = None, title: str = ""
) -> Collection:
    if template.collection is None:
        raise BadInput(f"template {template.id} makes a job: give --source and --destination")
    values = values_for(template, given or {})
    data = _walk(msgspec.to_builtins(template.collection), lambda t: _fill(t, values))
    data.update(
        id=collection_id, title=title or template.collection.title or template.display_title
    )
    return msgspec.convert(data, Collection)


def _fill(text: str, values: Mapping[str, str]) -> str:
    return _PLACE.sub(lambda m: values.get(m[1], m[0]), text)


def _walk(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_walk(item, change) for item in value]
    if isinstance(value, dict):
        return {_walk(key, change): _walk(item, change) for key, item in value.items()}
    return value
