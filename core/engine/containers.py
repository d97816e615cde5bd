"""Containers: where new objects go, and how deep an object sits in a directory tree.

A job names the container of new objects either fixed (`ObjectMapping.container`) or
per record from a *source* field (`container_from`). Mapping shapes a record into the
destination's fields, so that source value would be lost on the way: the runner carries
it in the mapped record under the reserved name `CONTAINER_FIELD` (`with_container`),
which is never a destination field and is never written or compared.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from schemas.jobs import ObjectMapping
from schemas.values import Record

from .transforms_base import RecordFailed

CONTAINER_FIELD = "@container"
"""The mapped record's container for a create ("@" starts no LDAP attribute or SQL column).
A destination that says where each object is (a directory told `Layout.containers`) puts
the container of each record it reads under the same name: the planner compares the two
to move an object whose source now names another container (planner.py)."""

_HEX = frozenset("0123456789abcdefABCDEF")
_SPACES = re.compile(r"\s+")
_ESCAPED = str.maketrans({c: f"\\{ord(c):02x}" for c in '\\,;+="<>#'})
"""How a canonical DN writes the characters that would be read as its own syntax."""


@dataclass(frozen=True)
class Scope:
    """What a directory destination reads: the entries below `container` (`subtree`), or
    right below it."""

    container: str
    subtree: bool = True

    def holds(self, container: str) -> bool:
        """Whether an object put in `container` is read by the destination: `container`
        is the scope's own (DNs compared by `canonical_dn`) or, for a subtree, below it.
        A container that is no DN, or a scope that is none, is not judged here (True)."""
        mine, theirs = canonical_dn(self.container), canonical_dn(container)
        if mine is None or theirs is None or theirs == mine:
            return True
        return self.subtree and theirs.endswith("," + mine)


def with_container(
    mapped: Record, source: Record, mapping: ObjectMapping, scope: Scope | None = None
) -> Record:
    """`mapped` plus the container its source record names, when the job takes containers
    from a source field; `mapped` itself otherwise. Text, or a list of exactly one text.
    RecordFailed when the container is out of the destination's `scope`: an object created
    or moved there would never be read again (created anew by every run, never deleted)."""
    if mapping.container_from is None:
        return mapped
    value = source.get(mapping.container_from)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str) or not value.strip():
        return mapped  # planned without one: the planner warns, naming the record
    if scope is not None and not scope.holds(value):
        below = "below or in" if scope.subtree else "right below"
        raise RecordFailed(
            f"container {value!r} is out of the destination's scope: the job reads the "
            f"entries {below} {scope.container}, so an object there would never be found "
            "again; name a container within it",
            mapping.container_from,
        )
    return {**mapped, CONTAINER_FIELD: value}


def follows_container(mapping: ObjectMapping) -> bool:
    """Whether objects the source and destination both hold are kept in the container
    their source record names: `container_from` with `on_both = "update"` (planner.py
    moves one whose container differs; the destination is asked where each object is)."""
    return mapping.container_from is not None and mapping.on_both == "update"


def container_of(record: Record, mapping: ObjectMapping) -> str | None:
    """Where a new object goes: the record's own container (from `container_from`) first,
    then the job's fixed `container`; None leaves it to the provider (its scope)."""
    value = record.get(CONTAINER_FIELD)
    if isinstance(value, str):
        return value
    return mapping.container


def dn_depth(text: str | None) -> int:
    """The number of RDNs when `text` reads as a DN ("cn=a,ou=b,dc=c" → 3); 0 otherwise.

    Enough to order a plan (children before parents), not a DN parser: an escaped comma
    (`\\,`) does not separate RDNs, and the first RDN must look like `attribute=value`.
    """
    if not text or "=" not in text:  # most keys (ids, logins): no DN, nothing to count
        return 0
    head = text.split(",", 1)[0]
    name, equals, _ = head.partition("=")
    if not equals or not name.strip() or not name.strip().replace("-", "").isalnum():
        return 0
    depth, escaped = 1, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            depth += 1
    return depth


def canonical_dn(text: str) -> str | None:
    """A DN in one spelling, for comparing two DNs of a directory (RFC 4514): attribute
    types and values in lower case, the spaces around `=`, `,` and `+` and the runs of
    spaces inside a value made one, escapes (`\\,` or `\\2C`) read as the characters they
    stand for, and a multi-valued RDN's parts in order. None: not a DN."""
    rdns = dn_parts(text)
    if rdns is None:
        return None
    return ",".join(
        "+".join(sorted(f"{kind}={_folded(value).translate(_ESCAPED)}" for kind, value in rdn))
        for rdn in rdns
    )


def same_container(one: str, other: str) -> bool:
    """Whether two containers name the same place: equal DNs (`canonical_dn`), or equal
    texts, spaces and case aside, where neither is a DN."""
    return container_form(one) == container_form(other)


def container_form(text: str) -> str:
    """A container in the one spelling `same_container` compares: its canonical DN, or
    (marked so that it never equals one) its text folded, when it is no DN."""
    return canonical_dn(text) or "\x00" + _folded(text)


def _folded(text: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip().casefold()


def dn_parts(text: str) -> list[list[tuple[str, str]]] | None:
    """The RDNs of a DN (RFC 4514), each a list of (attribute type in lower case, value):
    escapes (`\\,`, `\\2C`) read as the characters they stand for, the spaces around `=`,
    `,` and `+` left out (an escaped one kept). None when `text` is not a DN."""
    try:
        rdns = _rdns(text)
    except ValueError:
        return None
    return rdns or None


def _rdns(text: str) -> list[list[tuple[str, str]]]:
    """`dn_parts`, raising ValueError when `text` is not a DN."""
    rdns: list[list[tuple[str, str]]] = []
    parts: list[tuple[str, str]] = []
    raw: list[bytes] = []
    kept = 0  # the value's length up to its last character that is no unescaped space
    kind: str | None = None
    i, n = 0, len(text)

    def close_value() -> None:
        nonlocal kind
        if kind is None:
            raise ValueError("an attribute value without its type")
        value = b"".join(raw[:kept]).decode("utf-8")  # UnicodeDecodeError is a ValueError
        parts.append((kind, value))
        raw.clear()
        kind = None

    while i < n:
        if kind is None:  # the attribute type, up to "="
            equals = text.find("=", i)
            if equals < 0:
                raise ValueError("no '='")
            kind = text[i:equals].strip().lower()
            if not kind or not (kind.replace("-", "").replace(".", "").isalnum()):
                raise ValueError("not an attribute type")
            i = equals + 1
            continue
        char = text[i]
        if char == "\\":
            pair = text[i + 1 : i + 3]
            if len(pair) == 2 and pair[0] in _HEX and pair[1] in _HEX:  # \\2C: one octet
                raw.append(bytes.fromhex(pair))
                i, kept = i + 3, len(raw)
                continue
            if i + 1 >= n:
                raise ValueError("a lone '\\' at the end")
            raw.append(text[i + 1].encode("utf-8"))
            i, kept = i + 2, len(raw)
            continue
        if char in ",;+":
            close_value()
            if char != "+":
                rdns.append(parts[:])
                parts.clear()
            i, kept = i + 1, 0
            continue
        if char != " " or raw:  # spaces before a value are none of it
            raw.append(char.encode("utf-8"))
            kept = kept if char == " " else len(raw)
        i += 1
    close_value()
    rdns.append(parts)
    return rdns
