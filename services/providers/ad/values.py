"""Active Directory's values and messages: pure functions, no connection.

objectGUID and objectSid are binary on the wire; people and other systems know them as
text ("8a1a70f4-e8dc-4b9c-95cb-886670151c5b", "S-1-5-21-…-1102"), so records carry that
text and a GUID key compares whatever spelling a file holds. userAccountControl is a
set of bits of which a sync owns two (disabled, password not required): the others are
kept as the directory has them. groupType may be written as words.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

from schemas.values import Binary, Record, Value

from ..ldap import ber as w
from ..ldap.dn import compile_filter, split_rdn

GUID, SID = "objectguid", "objectsid"
UAC = "useraccountcontrol"
ACCOUNTDISABLE = 0x2
PASSWD_NOTREQD = 0x20
NEW_USER_UAC = 0x222  # normal account, disabled, no password required: what AD creates
PASSWORD_FIELD = "unicodepwd"
"""The field whose value is the plain password: written as AD wants it, never read."""
PWD_LAST_SET = "pwdlastset"
EVERY_ENTRY = compile_filter("(objectClass=*)", "ad")

_GROUP_SCOPES = {"global": 0x2, "domain local": 0x4, "domainlocal": 0x4, "universal": 0x8}
_SECURITY = 0x80000000
_RANGE = re.compile(rb";range=(\d+)-(\d+|\*)$", re.IGNORECASE)
_CODE = re.compile(r"^[0-9A-Fa-f]{8}: ")


def guid_text(data: bytes) -> str:
    """objectGUID's 16 bytes (the first three fields little-endian) as canonical text."""
    return str(uuid.UUID(bytes_le=data))


def guid_bytes(text: str) -> bytes | None:
    """The bytes of a GUID written in any usual spelling (braces, upper case); None if
    the text is no GUID."""
    try:
        return uuid.UUID(text.strip().strip("{}")).bytes_le
    except ValueError:
        return None


def sid_text(data: bytes) -> str:
    """A binary SID as "S-1-5-21-…": revision, 48-bit authority, 32-bit sub-authorities."""
    if len(data) < 8:
        return data.hex()
    authority = int.from_bytes(data[2:8], "big")
    count = data[1]
    subs = [int.from_bytes(data[8 + 4 * i : 12 + 4 * i], "little") for i in range(count)]
    return "-".join(["S", str(data[0]), str(authority), *map(str, subs)])


def sid_bytes(text: str) -> bytes | None:
    """A SID written "S-1-5-21-…" in its binary form, as `sid_text` reads it: revision,
    the count of sub-authorities, the 48-bit authority (big-endian), each 32-bit
    sub-authority (little-endian); an authority of 2^32 or more may be written in hex
    ("0x…", as Windows writes it). None when the text is no SID."""
    parts = text.strip().upper().split("-")
    if len(parts) >= 3 and parts[2].startswith("0X") and _hex(parts[2][2:]):
        parts[2] = str(int(parts[2][2:], 16))
    if len(parts) < 3 or parts[0] != "S" or not all(p.isdigit() for p in parts[1:]):
        return None
    revision, authority, subs = int(parts[1]), int(parts[2]), [int(p) for p in parts[3:]]
    if revision != 1 or authority >= 1 << 48 or len(subs) > 15 or any(s >= 1 << 32 for s in subs):
        return None
    head = bytes([revision, len(subs)]) + authority.to_bytes(6, "big")
    return head + b"".join(sub.to_bytes(4, "little") for sub in subs)


def _hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789ABCDEF" for c in text)


MASTER_SID = "msexchmasteraccountsid"
"""Exchange's link from a linked mailbox's account to its master account: a binary SID."""
SID_VALUED = frozenset({SID, MASTER_SID})
"""Attributes holding a SID: read as text, written from it."""
SCHEMA_OPTIONAL = frozenset({MASTER_SID})
"""Attributes of Exchange's schema a job may map whatever the domain: written where the
directory's schema has them, left out where it does not (a domain without Exchange)."""


def schema_has(attribute_types: Mapping[str, object] | None) -> frozenset[str]:
    """The SCHEMA_OPTIONAL attributes (lower case) among a schema's attribute types (the
    server's subschema, by name, names compared ignoring case as LDAP does)."""
    if not attribute_types:
        return frozenset()
    names = {str(name).lower() for name in attribute_types}
    return frozenset(name for name in SCHEMA_OPTIONAL if name in names)


def with_schema(values: Record, present: frozenset[str]) -> Record:
    """A change's values as this directory takes them: a SCHEMA_OPTIONAL attribute left
    out unless `present` (lower-case names the schema has) names it, and a SID-valued
    one given as text ("S-1-5-21-…") as its binary SID."""
    out: Record = {}
    for name, value in values.items():
        low = name.lower()
        if low in SCHEMA_OPTIONAL and low not in present:
            continue
        if low == MASTER_SID and isinstance(value, str) and (raw := sid_bytes(value)):
            value = Binary(raw)
        out[name] = value
    return out


def shape_read(record: Record) -> None:
    """A read record as records compare, in place: objectGUID and objectSid (and
    msExchMasterAccountSid) as their text, DN lists sorted (AD keeps no order of members)."""
    for name, value in record.items():
        low = name.lower()
        if isinstance(value, Binary) and low in (GUID, *SID_VALUED):
            record[name] = guid_text(value.data) if low == GUID else sid_text(value.data)
        elif isinstance(value, list) and low in DN_VALUED:
            record[name] = sorted(value)


def canonical_id(name: str, value: Value) -> Value:
    """A GUID in its canonical spelling (what a read gives); other values as they are."""
    if name.lower() == GUID and isinstance(value, str) and (raw := guid_bytes(value)):
        return guid_text(raw)
    return value


DN_VALUED = frozenset({"member", "manager", "managedby", "seealso", "secretary"})
"""Attributes holding DNs: AD spells their attribute types upper case (CN=…,OU=…)."""


def dn_spelling(value: Value) -> Value:
    """DNs as AD reads them back: each RDN's attribute type upper case, so that
    "cn=Ann,ou=People,…" from a file compares equal to what the directory holds."""
    if isinstance(value, list):
        return sorted(str(dn_spelling(item)) for item in value)
    if not isinstance(value, str) or "=" not in value:
        return value
    parts: list[str] = []
    rest = value
    while rest:
        first, rest = split_rdn(rest)
        kind, _, named = first.partition("=")
        parts.append(f"{kind.strip().upper()}={named}")
    return ",".join(parts)


def group_type(value: Value) -> Value:
    """groupType as AD stores it (a signed 32-bit number) from words such as
    "global security", "universal distribution" or "domain local security"."""
    if not isinstance(value, str) or value.strip().lstrip("-").isdigit():
        return value
    words = " ".join(value.lower().replace("_", " ").replace("-", " ").split())
    kind = _SECURITY
    if words.endswith(" distribution"):
        kind, words = 0, words.removesuffix(" distribution")
    words = words.removesuffix(" security")
    if words not in _GROUP_SCOPES:
        return value  # the directory refuses it, naming the group
    number = _GROUP_SCOPES[words] | kind
    return str(number - (1 << 32) if number & _SECURITY else number)


def enabled(uac: int) -> int:
    """The account enabled and needing a password; every other bit kept."""
    return uac & ~(ACCOUNTDISABLE | PASSWD_NOTREQD)


def disabled(uac: int) -> int:
    return uac | ACCOUNTDISABLE


def unfinished(uac: int | None, pwd_last_set: int | None) -> bool:
    """An account added and never given a password: disabled, no password required,
    pwdLastSet 0 — what a create's add stage leaves before the password and the enable.
    An account disabled later keeps its password (pwdLastSet is a date) and needs one."""
    return (
        uac is not None
        and uac & (ACCOUNTDISABLE | PASSWD_NOTREQD) == ACCOUNTDISABLE | PASSWD_NOTREQD
        and pwd_last_set == 0
    )


def number(values: list[bytes] | None) -> int | None:
    """An integer attribute's value as read (None when absent or not a number)."""
    if not values or not values[0].lstrip(b"-").isdigit():
        return None
    return int(values[0])


def password_value(password: str) -> bytes:
    """unicodePwd: the password in double quotes, UTF-16-LE."""
    return f'"{password}"'.encode("utf-16-le")


def ranged(name: bytes) -> tuple[bytes, int | None] | None:
    """For "member;range=0-1499": (b"member", 1500), where the next part starts; for the
    last part ("…;range=1500-*"): (b"member", None); None for a whole attribute."""
    found = _RANGE.search(name)
    if found is None:
        return None
    end = found.group(2)
    return name[: found.start()], None if end == b"*" else int(end) + 1


def merge_ranges(
    attributes: list[tuple[bytes, list[bytes]]],
) -> tuple[list[tuple[bytes, list[bytes]]], dict[bytes, int]]:
    """An entry's attributes with each ranged one under its own name, and where the
    values still missing start (attribute → first index), to be asked for next."""
    out: list[tuple[bytes, list[bytes]]] = []
    missing: dict[bytes, int] = {}
    for name, values in attributes:
        part = ranged(name)
        if part is None:
            out.append((name, values))
            continue
        out.append((part[0], values))
        if part[1] is not None:
            missing[part[0]] = part[1]
    return out, missing


def explain(doing: str, dn: str, r: w.Result) -> str:
    """An AD refusal as a sentence naming the object and what to do."""
    detail = _CODE.sub("", r.message).strip() or f"result {r.code}"
    if "0000052D" in r.message.upper():
        return (
            f"{doing} {dn}: the password does not meet the domain's password policy "
            f"({detail}); lengthen it or relax the policy"
        )
    if r.code == w.ALREADY_EXISTS:
        return (
            f"{doing} {dn}: another object already has this name or account name ({detail}); "
            "give this one another cn or sAMAccountName"
        )
    if r.code == 19:
        return f"{doing} {dn}: the directory refused a value ({detail})"
    if r.code == 50:
        return f"{doing} {dn}: the bind account may not do this ({detail}); grant it the right"
    if r.code == w.UNWILLING:
        return f"{doing} {dn}: the directory is unwilling to do this ({detail})"
    if r.code == 65:
        return f"{doing} {dn}: an attribute does not belong to this kind of object ({detail})"
    return f"{doing} {dn}: {detail} (result {r.code})"
