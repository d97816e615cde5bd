"""Jobs, connections, collections and templates written as files: TOML as people write
them (fields at their defaults left out: core/documents.py), or JSON. What is written
applies back unchanged (`idsync job import`, `idsync job apply`, `idsync connection
apply`). Secrets are never in them: a connection holds only references to where its
secrets are read (`{ env = "VAR" }`, `{ file = "path" }`), and those are what is written."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import msgspec
import tomli_w

from core.documents import lean
from schemas.collections import Collection
from schemas.connections import Connection
from schemas.jobs import Job
from schemas.templates import Template

Format = Literal["toml", "json"]


def job_text(job: Job, fmt: Format) -> str:
    return _dump(lean(job), fmt)


def connections_text(connections: Iterable[Connection], fmt: Format) -> str:
    """One table per connection, named by its id (as in connections.toml)."""
    tables: dict[str, Any] = {}
    for connection in sorted(connections, key=lambda c: c.id):
        table = lean(connection)
        table.pop("id", None)
        tables[connection.id] = table
    return _dump(tables, fmt)


def _dump(document: Any, fmt: Format) -> str:
    if fmt == "json":
        return msgspec.json.format(msgspec.json.encode(document), indent=2).decode() + "\n"
    return tomli_w.dumps(document)


def template_text(template: Template, fmt: Format = "toml") -> str:
    """A template (its job or collection as a table of it)."""
    return _dump(lean(template), fmt)


def collection_text(collection: Collection, fmt: Format) -> str:
    return _dump(lean(collection), fmt)
