"""What a change needs to be written to a directory: its step (the change, its key,
where it goes, how far it got) and the DN a create gives its entry."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.engine.containers import dn_parts
from schemas.plan import Change
from schemas.values import Value

from .dn import rdn, split_rdn

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


def new_rdn(dn: str, change: Change) -> str | None:
    """The RDN an update gives the entry named `dn`: its naming attribute's new value,
    as written — a new case too, which replacing the attribute would leave out of the DN
    (and a move of the entry, keeping its RDN, would undo) —; None: it keeps its name."""
    naming = split_rdn(dn)[0]
    attribute = naming.partition("=")[0]
    new = next((v for k, v in change.set.items() if k.lower() == attribute.lower()), None)
    if not isinstance(new, str):
        return None
    named = rdn(attribute, new)
    current = dn_parts(naming)
    if current is not None and len(current[0]) == 1:  # one value names it: compared as is
        return None if current[0][0][1] == new else named
    return None if named.lower() == naming.lower() else named
