"""The event catalogue as an AsyncAPI 3.0 document (docs/api/asyncapi.json).

FastStream writes the document: a broker on which each kind of event of `schemas/events.py`
is declared as a publisher on its subject (`subjects.events_of`, the job's id as a
parameter), titled by its tag and described by its docstring. Each message's payload is
then the event's JSON Schema, as msgspec gives it from the same Struct the services
encode — so the document says what is on the wire. `python -m services.common.asyncapi`
prints it; tests/unit/test_api_documents.py keeps the committed one in step.
"""

from __future__ import annotations

import inspect
import json
import typing
from typing import Any

import msgspec
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from schemas.events import Event
from schemas.subjects import events_of

TITLE = "idsync events"
VERSION = "1"


def kinds() -> list[type[Any]]:
    found: list[type[Any]] = list(typing.get_args(Event))
    return found


def document() -> dict[str, Any]:
    broker = NatsBroker("nats://127.0.0.1:4222")
    for kind in kinds():
        tag = kind.__struct_config__.tag
        broker.publisher(
            events_of(kind, "{job_id}"),
            title=tag,
            description=inspect.cleandoc(kind.__doc__ or tag),
        )
    spec = AsyncAPI(
        broker,
        title=TITLE,
        version=VERSION,
        description=(
            "Every event idsync's services publish to the journal (stream IDSYNC_JOURNAL), "
            "one subject per kind and job: idsync.<kind>.<job_id>. Payloads are JSON; "
            "each message's id (Nats-Msg-Id) is the event's `id`."
        ),
        schema_version="3.0.0",
    ).to_specification()
    found: dict[str, Any] = json.loads(spec.to_json())
    _payloads(found)
    return found


def _payloads(found: dict[str, Any]) -> None:
    """Each message's payload: its event's JSON Schema (msgspec's), definitions shared."""
    by_title = {kind.__struct_config__.tag: kind for kind in kinds()}
    (schemas, definitions) = msgspec.json.schema_components(
        kinds(), ref_template="#/components/schemas/{name}"
    )
    components = found.setdefault("components", {})
    components["schemas"] = dict(sorted(definitions.items()))
    by_channel = {
        name: channel.get("title", "") for name, channel in found.get("channels", {}).items()
    }
    for key, message in components.get("messages", {}).items():
        channel = key.split(":")[0]
        tag = by_channel.get(channel) or message.get("title", "").split(":")[0]
        kind = by_title.get(tag)
        if kind is not None:
            message["payload"] = schemas[kinds().index(kind)]


if __name__ == "__main__":
    print(json.dumps(document(), indent=2, sort_keys=True))
