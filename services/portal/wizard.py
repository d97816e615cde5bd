"""The job wizard: a form whose fields are a job's — name, description, owners, source and
destination (a connection and where in it), the object type, keys and actions, the field
mapping, a schedule — made into the very `Job` the TOML would be. Its preview is the
TOML `idsync job export` writes; saving it is `job-apply` in the person's name, checked
by the workflow as `idsync job apply` is (an edit of an existing job starts from it).
The portal opens no data source, so nothing is read from the connections here."""

from __future__ import annotations

import typing
from typing import Any

import msgspec

from core.checks.facts import provider_of
from core.errors import BadInput
from schemas.connections import Connection
from schemas.jobs import Job, ObjectMapping, OnBoth, OnDestinationOnly, OnSourceOnly

ROWS = 12
"""Mapping rows the form offers (more: edit the job's TOML)."""

PLACE = {
    "csv": "file",
    "excel": "file",
    "sqlite": "table",
    "postgresql": "table",
    "mysql": "table",
    "ldap": "container",
    "ad": "container",
}
"""Where in a connection of each provider a side reads or writes (the endpoint's field)."""

ACTIONS = {
    "on_source_only": list(typing.get_args(OnSourceOnly)),
    "on_both": list(typing.get_args(OnBoth)),
    "on_destination_only": list(typing.get_args(OnDestinationOnly)),
}


def defaults() -> dict[str, str]:
    """A new job's form: each action as the job's TOML has it when it says nothing."""
    found = {f.name: f.default for f in msgspec.structs.fields(ObjectMapping)}
    return {"type": str(found["type"]), **{action: str(found[action]) for action in ACTIONS}}


def _words(text: str) -> list[str]:
    return [word.strip() for word in text.replace("\n", ",").split(",") if word.strip()]


def place_field(connections: dict[str, Connection], connection_id: str) -> str | None:
    connection = connections.get(connection_id)
    return PLACE.get(provider_of(connection)) if connection is not None else None


def job_of(
    fields: dict[str, str], connections: dict[str, Connection], base: Job | None = None
) -> Job:
    """The job the form describes — over `base`, the job edited, whose every other setting
    (other object types, transformations, safety, notifications...) stays as it was;
    BadInput naming the form's field that is wrong."""
    document: dict[str, Any] = msgspec.to_builtins(base) if base is not None else {}
    document.update(
        id=fields.get("id", "").strip(),
        title=fields.get("title", "").strip(),
        description=fields.get("description", "").strip(),
        owners=_words(fields.get("owners", "")),
    )
    for side in ("source", "destination"):
        connection_id = fields.get(f"{side}_connection", "")
        if connection_id not in connections:
            raise BadInput(f"{side}: choose one of the connections")
        endpoint: dict[str, Any] = dict(document.get(side) or {})
        if endpoint.get("connection") != connection_id:
            endpoint = {}  # another connection: another provider's fields
        endpoint["connection"] = connection_id
        field = place_field(connections, connection_id)
        place = fields.get(f"{side}_place", "").strip()
        if field is not None:
            endpoint.pop(field, None)
            if place:
                endpoint[field] = place
        document[side] = endpoint
    objects: list[dict[str, Any]] = list(document.get("objects") or [{}])
    mapping: dict[str, Any] = dict(objects[0])
    mapping["type"] = fields.get("type", "").strip() or "user"
    mapping["keys"] = _words(fields.get("keys", ""))
    for action, allowed in ACTIONS.items():
        chosen = fields.get(action) or defaults()[action]
        if chosen not in allowed:
            raise BadInput(f"{action}: one of {', '.join(allowed)}")
        mapping[action] = chosen
    before = {f["to"]: f for f in mapping.get("fields", [])}
    rows: list[dict[str, Any]] = []
    for n in range(ROWS):
        to = fields.get(f"to_{n}", "").strip()
        source = fields.get(f"from_{n}", "").strip()
        if not to and not source:
            continue
        if not to:
            raise BadInput(f"mapping row {n + 1}: which destination field does {source!r} go to?")
        row = {k: v for k, v in before.get(to, {}).items() if k != "from"}
        rows.append({**row, "to": to, **({"from": source} if source else {})})
    kept = [f for f in mapping.get("fields", [])[ROWS:] if f["to"] not in {r["to"] for r in rows}]
    mapping["fields"] = rows + kept
    document["objects"] = [mapping, *objects[1:]]
    every = fields.get("every", "").strip()
    if every:
        document["schedule"] = {**(document.get("schedule") or {}), "every": every}
    elif (document.get("schedule") or {}).get("every"):
        document.pop("schedule")
    try:
        return msgspec.convert(document, Job)
    except msgspec.ValidationError as error:
        raise BadInput(f"the job: {error}") from None


def form_of(job: Job, connections: dict[str, Connection]) -> dict[str, str]:
    """The form's fields for an existing job (its first object type)."""
    mapping = job.objects[0]
    found = {
        "id": job.id,
        "title": job.title,
        "description": job.description,
        "owners": ", ".join(job.owners),
        "type": mapping.type,
        "keys": ", ".join(mapping.keys),
        "on_source_only": mapping.on_source_only,
        "on_both": mapping.on_both,
        "on_destination_only": mapping.on_destination_only,
        "every": job.schedule.every or "" if job.schedule else "",
    }
    for side, endpoint in (("source", job.source), ("destination", job.destination)):
        found[f"{side}_connection"] = endpoint.connection
        field = place_field(connections, endpoint.connection)
        found[f"{side}_place"] = str(getattr(endpoint, field) or "") if field else ""
    for n, field_map in enumerate(mapping.fields[:ROWS]):
        found[f"to_{n}"] = field_map.to
        found[f"from_{n}"] = field_map.from_ or ""
    return found
