"""Graph's JSON and idsync's records, both ways (pure).

A record's fields are Graph's property names (`displayName`, `employeeId`,
`extension_<appId>_costCentre`); a complex property's parts are dotted
(`onPremisesExtensionAttributes.extensionAttribute1`, `employeeOrgData.costCenter`).
`manager` and a group's `members` name users by the connection's `member_key` (their
userPrincipalName by default). Booleans read as "true"/"false", numbers as text, lists as
lists; a new user's password is the field `passwordProfile.password` (or `password`),
written once and never read.
"""

from __future__ import annotations

import base64
import re
import secrets
import string
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from schemas.values import Record, Value, normalize

USER, GROUP = "user", "group"
COLLECTION = {USER: "users", GROUP: "groups"}
PASSWORD_FIELDS = frozenset({"password", "passwordprofile.password"})
MANAGER, MEMBERS = "manager", "members"
USER_CAST = "microsoft.graph.user"
"""A group's members read through this OData cast are its users alone: `members` holds
users; its other members (nested groups, devices) are neither read nor removed."""
BOOLEAN = frozenset(
    {
        "accountenabled",
        "mailenabled",
        "securityenabled",
        "onpremisessyncenabled",
        "isassignabletorole",
    }
)
LISTS = frozenset(
    {"businessphones", "othermails", "proxyaddresses", "imaddresses", "grouptypes", MEMBERS}
)
DATES = frozenset({"employeehiredate", "employeeleavedatetime"})
READ_ONLY = frozenset(
    {
        "id",
        "createddatetime",
        "deleteddatetime",
        "proxyaddresses",
        "imaddresses",
        "onpremisessyncenabled",
        "onpremisessamaccountname",
        "onpremisesdistinguishedname",
        "onpremisessecurityidentifier",
        "onpremisesdomainname",
        "securityidentifier",
        "mail@group",
    }
)
EVERY = {
    USER: [
        "id",
        "displayName",
        "givenName",
        "surname",
        "userPrincipalName",
        "mail",
        "mailNickname",
        "jobTitle",
        "department",
        "companyName",
        "employeeId",
        "employeeType",
        "officeLocation",
        "mobilePhone",
        "businessPhones",
        "city",
        "country",
        "state",
        "streetAddress",
        "postalCode",
        "usageLocation",
        "accountEnabled",
        "onPremisesImmutableId",
        "otherMails",
        "userType",
    ],
    GROUP: [
        "id",
        "displayName",
        "description",
        "mail",
        "mailNickname",
        "mailEnabled",
        "securityEnabled",
        "groupTypes",
        "visibility",
    ],
}
"""What a job that copies every field reads (Graph's own default leaves most out)."""
IMMUTABLE_ID = "onpremisesimmutableid"
_GUID = re.compile(
    r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$"
)
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_NICKNAME_BAD = re.compile(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]")


def top(field: str) -> str:
    """The property a field reads: `employeeOrgData.costCenter` → `employeeOrgData`."""
    return field.split(".", 1)[0]


def selected(fields: Iterable[str], kind: str) -> list[str]:
    """The properties to $select for these fields (manager and members read otherwise)."""
    names: dict[str, None] = {"id": None}
    for name in fields:
        low = name.lower()
        if low in PASSWORD_FIELDS or low in (MANAGER, MEMBERS) or name.startswith("@"):
            continue
        names[top(name)] = None
    return list(names)


def text_of(value: Any) -> Value | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return [t for v in value if isinstance(t := text_of(v), str)]
    if isinstance(value, str):
        return value
    return None


def record_of(obj: dict[str, Any], fields: Iterable[str]) -> Record:
    """The record of one object for the fields asked for (in their spelling)."""
    lower = {k.lower(): v for k, v in obj.items()}
    out: dict[str, Value | None] = {}
    for name in fields:
        low = name.lower()
        if low in PASSWORD_FIELDS or low in (MANAGER, MEMBERS):
            continue
        if "." in name:
            head, _, part = low.partition(".")
            inner = lower.get(head)
            if isinstance(inner, dict):
                found = {k.lower(): v for k, v in inner.items()}.get(part)
                out[name] = text_of(found)
            continue
        out[name] = text_of(lower.get(low))
    return normalize(out)


def canonical(record: Record) -> Record:
    """As Graph would read it back: booleans as true/false, dates as Graph writes them,
    members in order (a group's members come in no order), no empty values."""
    out: dict[str, Value | None] = {}
    for name, value in record.items():
        low = name.lower()
        if low in PASSWORD_FIELDS:
            continue
        if low in BOOLEAN and isinstance(value, str):
            folded = value.strip().lower()
            value = "true" if folded in _TRUE else "false" if folded in _FALSE else value
        elif low in DATES and isinstance(value, str):
            value = date_time(value)
        elif low == IMMUTABLE_ID and isinstance(value, str):
            value = immutable_id(value)
        elif low == MEMBERS and isinstance(value, list):
            value = sorted(value, key=str.casefold)
        elif low in LISTS and isinstance(value, str):
            value = [value]
        out[name] = value
    return normalize(out)


def date_time(text: str) -> str:
    """ "2024-03-01" or "2024-03-01T09:00:00+02:00" as Graph spells a DateTimeOffset: the
    same instant in UTC (as Graph gives it back, whatever offset it was written with)."""
    found = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?"
        r"(Z|[+-]\d{2}:?\d{2})?)?",
        text.strip(),
    )
    if found is None:
        return text
    clock = found.group(2) or "00:00:00"
    if len(clock) == 5:
        clock += ":00"
    offset = found.group(3) or "Z"
    if offset == "Z" or offset.replace(":", "")[1:] == "0000":
        return f"{found.group(1)}T{clock}Z"
    try:
        when = datetime.fromisoformat(f"{found.group(1)}T{clock}{offset}")
    except ValueError:
        return text
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def immutable_id(text: str) -> str:
    """onPremisesImmutableId as Entra Connect writes it: the base64 of an account's
    objectGUID bytes. A GUID given as text (what the `ad` provider reads) is turned into
    it; anything else is taken as it is."""
    if _GUID.match(text.strip()):
        return base64.b64encode(uuid.UUID(text.strip().strip("{}")).bytes_le).decode()
    return text


class ValueProblem(ValueError):
    """A value Graph could not take, said as a sentence about the field."""


def json_of(name: str, value: Value) -> Any:
    """A record value as the JSON Graph takes for the property."""
    low = name.lower()
    if low in BOOLEAN:
        folded = str(value).strip().lower()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
        raise ValueProblem(f"{name}: expected true or false, got {value!r}")
    if low in DATES and isinstance(value, str):
        return date_time(value)
    if low == IMMUTABLE_ID and isinstance(value, str):
        return immutable_id(value)
    if low in LISTS:
        return value if isinstance(value, list) else [value]
    if not isinstance(value, str | list):
        raise ValueProblem(f"{name}: Graph takes text, not binary data")
    return value


def body_of(values: Record, cleared: Iterable[str] = ()) -> dict[str, Any]:
    """A POST or PATCH body: dotted fields nested, cleared ones null; manager, members and
    the password are left to the caller."""
    body: dict[str, Any] = {}
    for name, value in values.items():
        low = name.lower()
        if low in PASSWORD_FIELDS or low in (MANAGER, MEMBERS):
            continue
        _put(body, name, json_of(name, value))
    for name in cleared:
        if name.lower() not in (MANAGER, MEMBERS) and name.lower() not in PASSWORD_FIELDS:
            _put(body, name, None)
    return body


def _put(body: dict[str, Any], name: str, value: Any) -> None:
    if "." in name:
        head, _, part = name.partition(".")
        inner = body.setdefault(head, {})
        if isinstance(inner, dict):
            inner[part] = value
        return
    body[name] = value


def password_of(values: Record) -> str | None:
    for name, value in values.items():
        if name.lower() in PASSWORD_FIELDS and isinstance(value, str):
            return value
    return None


def unknown_password() -> str:
    """A password nobody is told, for a user the job gives none (who signs in through
    federation, or has it reset): Entra requires one to create the account."""
    alphabet = string.ascii_letters + string.digits + "!#$%&*+-=?@^_"
    while True:
        made = "".join(secrets.choice(alphabet) for _ in range(32))
        kinds = [
            any(c.islower() for c in made),
            any(c.isupper() for c in made),
            any(c.isdigit() for c in made),
        ]
        if all(kinds):
            return made


def nickname(text: str) -> str:
    """A mailNickname made of a name: the characters Graph refuses left out, 64 at most."""
    made = _NICKNAME_BAD.sub("", text.split("@", 1)[0])
    return (made or "x" + secrets.token_hex(4))[:64]


def quoted(value: str) -> str:
    """An OData string literal."""
    return "'" + value.replace("'", "''") + "'"
