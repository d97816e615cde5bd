"""DNs (RFC 4514) and filters (RFC 4515) built from data: escaped, so that no value can
change the name of an entry or the meaning of a query."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ldap3.operation.search as _search
import ldap3.utils.asn1 as _asn1
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from core.engine.containers import dn_parts
from core.errors import BadInput

_DN_SPECIAL = frozenset('\\,+"<>;=')
# ldap3's filter parser and BER encoder (untyped in its stubs).
_parse: Callable[..., Any] = _search.parse_filter
_compile: Callable[..., Any] = _search.compile_filter
_encode: Callable[..., Any] = vars(_asn1)["encode"]


def escape_dn_value(value: str) -> str:
    """An attribute value as it is written in a DN (RFC 4514, section 2.4)."""
    out: list[str] = []
    for char in value:
        if char in _DN_SPECIAL:
            out.append("\\" + char)
        elif char == "\x00":
            out.append("\\00")
        else:
            out.append(char)
    if out and (value[0] == " " or value[0] == "#"):
        out[0] = "\\" + out[0]
    if len(value) > 1 and value[-1] == " ":
        out[-1] = "\\ "
    return "".join(out)


def rdn(attribute: str, value: str) -> str:
    return f"{attribute}={escape_dn_value(value)}"


def stored_dn(text: str, names: Mapping[str, str]) -> str | None:
    """A DN as a directory keeps a value of a DN-valued attribute (OpenLDAP's "pretty"
    form, which a directory keeping values as written keeps too): each attribute type as
    the schema names it (`names`: lower-case alias → name; `commonName`, `CN` → `cn`), no
    spaces around `=`, `,` and `+` but escaped ones, the special characters escaped as
    hex pairs (`\\2C`), a multi-valued RDN's parts by type. None: not a DN."""
    rdns = dn_parts(text)
    if rdns is None:
        return None
    out: list[str] = []
    for parts in rdns:
        named = sorted(((names.get(kind, kind), value) for kind, value in parts), key=_by_type)
        out.append("+".join(f"{name}={_stored_value(value)}" for name, value in named))
    return ",".join(out)


def _by_type(part: tuple[str, str]) -> tuple[str, str]:
    return part[0].lower(), part[1]


def _stored_value(value: str) -> str:
    out = [f"\\{ord(char):02X}" if char in _DN_SPECIAL else char for char in value]
    if out and value[0] in " #":
        out[0] = f"\\{ord(value[0]):02X}"
    if len(value) > 1 and value[-1] == " ":
        out[-1] = "\\20"
    return "".join(out)


def split_rdn(dn: str) -> tuple[str, str]:
    """(first RDN, the rest) of a DN, honouring escapes:
    "uid=a\\,b,ou=x" → ("uid=a\\,b", "ou=x")."""
    escaped = False
    for i, char in enumerate(dn):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            return dn[:i], dn[i + 1 :]
    return dn, ""


def escape_filter_value(value: str) -> str:
    """RFC 4515 escaping; leading and trailing spaces too (as \\20), so that they reach the
    server instead of being trimmed as the filter's white space."""
    text = escape_filter_chars(value)
    stripped = text.lstrip(" ")
    text = "\\20" * (len(text) - len(stripped)) + stripped
    stripped = text.rstrip(" ")
    return stripped + "\\20" * (len(text) - len(stripped))


def key_filter(keys: Sequence[str], values: Mapping[str, str]) -> str:
    """The filter text matching one object's key fields."""
    parts = [f"({name}={escape_filter_value(values[name])})" for name in keys]
    return parts[0] if len(parts) == 1 else f"(&{''.join(parts)})"


def class_filter(object_classes: Sequence[str]) -> str:
    if not object_classes:
        return "(objectClass=*)"
    parts = [f"(objectClass={escape_filter_value(name)})" for name in object_classes]
    return parts[0] if len(parts) == 1 else f"(&{''.join(parts)})"


def compile_filter(text: str, what: str) -> bytes:
    """A filter's BER encoding; BadInput naming `what` (the setting) when it is no filter."""
    try:
        node = _parse(text, None, False, True, None, False)
        return bytes(_encode(_compile(node.elements[0])))
    except (LDAPException, IndexError, ValueError) as e:
        raise BadInput(
            f"{what}: {text!r} is not an LDAP filter ({e}); "
            "write one such as (&(objectClass=inetOrgPerson)(ou=Staff))"
        ) from None
