"""Templates: a job or a collection kept to make others from — everything but a job's
source and destination, with parameters (`${name}`) filled in when it is used."""

from __future__ import annotations

from typing import Literal

import msgspec

from .collections import Collection
from .jobs import Job


class Template(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    """A slug."""
    kind: Literal["job", "collection"] = "job"
    title: str = ""
    description: str = ""
    owners: list[str] = msgspec.field(default_factory=list)
    """Principals who alone may change or delete the template."""
    job: Job | None = None
    """A job template: the job, its `source` and `destination` left empty
    (`connection = ""`): each job made from it names its own."""
    collection: Collection | None = None
    parameters: dict[str, str] = msgspec.field(default_factory=dict)
    """`${name}` in the template's text is replaced by the value given when it is used
    (`--set name=value`), or by the default here; an empty default must be given."""
    notes: str = ""
    """What a job made from it needs (a schema, a source's fields)."""
    builtin: bool = False
    """Shipped with idsync: neither changed nor deleted."""

    @property
    def display_title(self) -> str:
        return self.title or self.id
