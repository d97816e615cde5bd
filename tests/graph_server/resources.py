"""What the server knows of users and groups: their properties, which of them a client
may write, the values each takes, and the errors Graph answers a bad one with.

Pages: learn.microsoft.com/graph/api/resources/user, /resources/group,
/graph/api/user-post-users (required properties: accountEnabled, displayName,
mailNickname, passwordProfile, userPrincipalName), /graph/api/group-post-groups
(displayName, mailEnabled, mailNickname, securityEnabled; up to 20 members@odata.bind),
/graph/extensibility-overview (directory extensions extension_{appId}_{name}).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

STRING, BOOL, STRINGS, DATETIME, COMPLEX = "string", "bool", "strings", "datetime", "complex"


@dataclass(frozen=True)
class Kind:
    """users or groups."""

    name: str  # "user" | "group"
    collection: str  # "users" | "groups"
    properties: dict[str, str]
    read_only: frozenset[str]
    required: tuple[str, ...]
    default_select: list[str]
    max_length: dict[str, int] = field(default_factory=dict)
    complex_parts: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def odata_type(self) -> str:
        return f"#microsoft.graph.{self.name}"

    @property
    def title(self) -> str:
        return self.name.capitalize()


_USER_STRINGS = [
    "id",
    "createdDateTime",
    "deletedDateTime",
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
    "faxNumber",
    "city",
    "country",
    "state",
    "streetAddress",
    "postalCode",
    "usageLocation",
    "preferredLanguage",
    "onPremisesImmutableId",
    "userType",
    "onPremisesSamAccountName",
    "onPremisesDistinguishedName",
    "onPremisesSecurityIdentifier",
    "onPremisesDomainName",
    "securityIdentifier",
]

USER = Kind(
    name="user",
    collection="users",
    properties={
        **dict.fromkeys(_USER_STRINGS, STRING),
        "accountEnabled": BOOL,
        "onPremisesSyncEnabled": BOOL,
        "businessPhones": STRINGS,
        "otherMails": STRINGS,
        "proxyAddresses": STRINGS,
        "imAddresses": STRINGS,
        "employeeHireDate": DATETIME,
        "employeeLeaveDateTime": DATETIME,
        "passwordProfile": COMPLEX,
        "onPremisesExtensionAttributes": COMPLEX,
        "employeeOrgData": COMPLEX,
    },
    read_only=frozenset(
        [
            "id",
            "createdDateTime",
            "deletedDateTime",
            "proxyAddresses",
            "imAddresses",
            "onPremisesSyncEnabled",
            "onPremisesSamAccountName",
            "onPremisesDistinguishedName",
            "onPremisesSecurityIdentifier",
            "onPremisesDomainName",
            "securityIdentifier",
        ]
    ),
    required=(
        "accountEnabled",
        "displayName",
        "mailNickname",
        "passwordProfile",
        "userPrincipalName",
    ),
    default_select=[
        "businessPhones",
        "displayName",
        "givenName",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
        "id",
    ],
    max_length={
        "displayName": 256,
        "givenName": 64,
        "surname": 64,
        "mailNickname": 64,
        "jobTitle": 128,
        "department": 64,
        "companyName": 64,
        "employeeId": 16,
        "city": 128,
        "usageLocation": 2,
        "userPrincipalName": 113,
    },
    complex_parts={
        "passwordProfile": (
            "password",
            "forceChangePasswordNextSignIn",
            "forceChangePasswordNextSignInWithMfa",
        ),
        "onPremisesExtensionAttributes": tuple(f"extensionAttribute{n}" for n in range(1, 16)),
        "employeeOrgData": ("division", "costCenter"),
    },
)

GROUP = Kind(
    name="group",
    collection="groups",
    properties={
        **dict.fromkeys(
            [
                "id",
                "createdDateTime",
                "deletedDateTime",
                "displayName",
                "description",
                "mail",
                "mailNickname",
                "visibility",
                "classification",
                "securityIdentifier",
            ],
            STRING,
        ),
        "mailEnabled": BOOL,
        "securityEnabled": BOOL,
        "onPremisesSyncEnabled": BOOL,
        "groupTypes": STRINGS,
        "proxyAddresses": STRINGS,
    },
    read_only=frozenset(
        [
            "id",
            "createdDateTime",
            "deletedDateTime",
            "mail",
            "proxyAddresses",
            "onPremisesSyncEnabled",
            "securityIdentifier",
        ]
    ),
    required=("displayName", "mailEnabled", "mailNickname", "securityEnabled"),
    default_select=[
        "id",
        "deletedDateTime",
        "classification",
        "createdDateTime",
        "description",
        "displayName",
        "groupTypes",
        "mail",
        "mailEnabled",
        "mailNickname",
        "proxyAddresses",
        "securityEnabled",
        "securityIdentifier",
        "visibility",
    ],
    max_length={"displayName": 256, "mailNickname": 64, "description": 1024},
)

KINDS = {"users": USER, "groups": GROUP}
NAVIGATION = {"user": ("manager",), "group": ("members",)}
"""Relationships a $select (delta) or $expand may name."""
EXTENSION = re.compile(r"^extension_[0-9a-f]{32}_\w+$")
_NICKNAME = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+$")


class GraphFault(Exception):
    """An error Graph answers with: status, code, message (and details)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        target: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.target = target
        self.headers = headers or {}


def bad(message: str, target: str | None = None, code: str = "Request_BadRequest") -> GraphFault:
    return GraphFault(400, code, message, target)


def invalid(kind: Kind, name: str) -> GraphFault:
    return bad(f"Invalid value specified for property '{name}' of resource '{kind.title}'.", name)


def not_found(what: str) -> GraphFault:
    return GraphFault(
        404,
        "Request_ResourceNotFound",
        f"Resource '{what}' does not exist or one of its queried reference-property objects "
        "are not present.",
    )


def property_name(kind: Kind, name: str, extensions: dict[str, bool]) -> str | None:
    """The property's own spelling (names are not case-sensitive), None when unknown."""
    for known in (*kind.properties, *extensions):
        if known.lower() == name.lower():
            return known
    return None


def check_value(kind: Kind, name: str, value: Any, extensions: dict[str, bool]) -> Any:
    """The value as stored, or the error Graph gives for it."""
    shape = kind.properties.get(name)
    if shape is None:  # a directory extension: text, or a list of texts when multi-valued
        multi = extensions[name]
        ok = value is None or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
            if multi
            else isinstance(value, str | int | bool)
        )
        if not ok:
            raise invalid(kind, name)
        return value
    if value is None:
        return None
    if shape == STRING and not isinstance(value, str):
        raise invalid(kind, name)
    if shape == BOOL and not isinstance(value, bool):
        raise invalid(kind, name)
    if shape == STRINGS and not (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        raise invalid(kind, name)
    if shape == DATETIME and not (
        isinstance(value, str)
        and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", value)
    ):
        raise bad(
            f"Cannot convert the literal '{value}' to the expected type 'Edm.DateTimeOffset'.", name
        )
    if shape == COMPLEX:
        parts = kind.complex_parts.get(name, ())
        if not isinstance(value, dict) or any(k not in parts for k in value):
            raise invalid(kind, name)
    if isinstance(value, str) and len(value) > kind.max_length.get(name, 1 << 20):
        raise invalid(kind, name)
    if name == "mailNickname" and not _NICKNAME.match(value):
        raise invalid(kind, name)
    if name == "usageLocation" and not re.fullmatch(r"[A-Z]{2}", value):
        raise invalid(kind, name)
    return value


def complex_password(password: str) -> bool:
    """Entra's rule for passwords it sets: 8 to 256 characters of at least 3 kinds."""
    kinds = [
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ]
    return 8 <= len(password) <= 256 and sum(kinds) >= 3
