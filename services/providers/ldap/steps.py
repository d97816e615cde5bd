"""What a change needs to be written to a directory: its step (the change, its key,
where it goes, how far it got) and the DN a create gives its entry."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.plan import Change
from schemas.values import Value

from .dn import rdn

Key = tuple[str, ...]


@dataclass
class Target:
    """What a change needs to know of the job."""

    container: str | None  # where a create goes, or a move goes to
    object_classes: tuple[str, ...]
    rdn_attribute: str | None


@dataclass
class Step:
    index: int
    change: Change
    key: Key
    target: Target
    stage: str = ""
    dn: str = ""
    rest: dict[str, Value] = field(default_factory=dict)
    controls: bytes = b""  # of the step's modify: permissive when it adds or deletes values
    pending: list[bytes] = field(default_factory=list)  # requests still to send, in order


def naming_value(change: Change, name: str | None) -> str | None:
    """The value of the naming attribute a create's DN is built from; None: there is none."""
    value = change.set.get(name) if name else None
    value = value if value is not None else change.match.get(name or "")
    return value if isinstance(value, str) and value.strip() else None


def new_dn(change: Change, target: Target) -> str | None:
    """The DN a create gives its entry; None when it cannot have one."""
    value = naming_value(change, target.rdn_attribute)
    if not target.rdn_attribute or value is None or not target.container:
        return None
    return f"{rdn(target.rdn_attribute, value)},{target.container}"
