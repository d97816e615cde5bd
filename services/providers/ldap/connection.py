"""Opening LDAP connections: each URL in turn, TLS, a simple bind, and the schema's binary
attributes. Blocking (ldap3): call from a thread. Errors say what to fix and never hold
the password."""

from __future__ import annotations

import contextlib
import math
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException

from core.errors import BadInput, Unreachable
from schemas.connections import LdapConnection
from services.common.secrets import resolve_secret

from .wire import Wire

# Syntaxes whose values are octets, not text (RFC 4517 and the usual extensions).
BINARY_SYNTAXES = frozenset(
    {
        "1.3.6.1.4.1.1466.115.121.1.4",  # audio
        "1.3.6.1.4.1.1466.115.121.1.5",  # binary
        "1.3.6.1.4.1.1466.115.121.1.8",  # certificate
        "1.3.6.1.4.1.1466.115.121.1.9",  # certificate list
        "1.3.6.1.4.1.1466.115.121.1.10",  # certificate pair
        "1.3.6.1.4.1.1466.115.121.1.23",  # fax
        "1.3.6.1.4.1.1466.115.121.1.28",  # JPEG
        "1.3.6.1.4.1.1466.115.121.1.40",  # octet string
        "1.3.6.1.4.1.1466.115.121.1.49",  # supported algorithm
    }
)
# When the server does not publish its schema: the well-known binary attributes.
KNOWN_BINARY = frozenset(
    {
        "jpegphoto",
        "photo",
        "audio",
        "usercertificate",
        "cacertificate",
        "authorityrevocationlist",
        "certificaterevocationlist",
        "crosscertificatepair",
        "usersmimecertificate",
        "userpkcs12",
        "objectguid",
        "objectsid",
        "thumbnailphoto",
    }
)


@dataclass
class Session:
    """One open, bound connection; `wire` speaks on its socket."""

    conn: ldap3.Connection
    wire: Wire
    url: str

    def close(self) -> None:
        with contextlib.suppress(LDAPException, OSError):  # already gone: nothing to tidy
            self.conn.unbind()


def connect(connection: LdapConnection, *, schema: bool = False) -> Session:
    """A bound connection to the first URL that answers."""
    where = f"ldap connection {connection.id!r}"
    password = ""
    if connection.password is not None:
        password = resolve_secret(connection.password, f"{where}: password")
    tls = None
    if connection.tls != "none":
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED if connection.verify else ssl.CERT_NONE,
            ca_certs_file=connection.ca_file,
        )
    failures: list[str] = []
    for url in connection.urls:
        server = ldap3.Server(
            url,
            use_ssl=connection.tls == "ldaps",
            tls=tls,
            connect_timeout=connection.timeouts.connect,
            get_info=ldap3.SCHEMA if schema else ldap3.NONE,
        )
        conn = ldap3.Connection(
            server,
            user=connection.bind_dn or None,
            password=password or None,
            # ldap3 packs this into a socket option that takes whole seconds.
            receive_timeout=max(1, math.ceil(connection.timeouts.operation)),
            raise_exceptions=False,
            auto_referrals=False,
        )
        try:
            # The schema (when asked for) is read once, after the bind, as the bound
            # user sees it: not first anonymously on opening, nor again after StartTLS.
            conn.open(read_server_info=False)
            if connection.tls == "starttls" and not conn.start_tls(read_server_info=False):
                raise BadInput(f"{where}: {url} refused StartTLS ({_said(conn)})")
            if not conn.bind():
                raise _bind_error(where, connection, conn)
        except LDAPException as e:
            failures.append(f"{url}: {_hint(str(e))}")
            continue
        except OSError as e:
            failures.append(f"{url}: {e}")
            continue
        return Session(conn, Wire(conn.socket, connection.timeouts.operation), url)
    raise Unreachable(f"{where}: no server answered ({'; '.join(failures)})")


def _said(conn: ldap3.Connection) -> str:
    result = conn.result or {}
    text = str(result.get("description", "")) or "no answer"
    message = str(result.get("message", "") or "")
    return f"{text}: {message}" if message else text


def _bind_error(where: str, connection: LdapConnection, conn: ldap3.Connection) -> BadInput:
    who = connection.bind_dn or "anonymous"
    code = (conn.result or {}).get("result")
    if code == 49:
        return BadInput(
            f"{where}: the server refused the bind as {who} (invalid credentials); "
            "check bind_dn and the password it points at"
        )
    if code in (8, 13):  # strongerAuthRequired, confidentialityRequired
        return BadInput(f'{where}: the server wants TLS to bind as {who}; set tls = "starttls"')
    return BadInput(f"{where}: the bind as {who} failed ({_said(conn)})")


def _hint(text: str) -> str:
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return f"{text} (set ca_file to the authority that signed the server's certificate)"
    return text


def inherited(
    types: Mapping[str, Any],
    name: str,
    read: Callable[[Any], str | None],
    seen: frozenset[str] = frozenset(),
) -> str | None:
    """What `read` finds in an attribute type of the server's schema (its syntax, its
    equality rule), or else in the first of its superior types that says (`uid` inherits
    `name`'s rules); None where none says, or the type is not in the schema."""
    info = types.get(name)
    if info is None or name in seen:
        return None
    if (found := read(info)) is not None:
        return found
    for parent in info.superior or ():
        if (found := inherited(types, str(parent), read, seen | {name})) is not None:
            return found
    return None


def binary_attributes(conn: ldap3.Connection) -> frozenset[str]:
    """Lower-case names (every alias) of attributes whose syntax is binary, per the schema
    the server published; the well-known ones when it published none."""
    schema = conn.server.schema
    if schema is None or not schema.attribute_types:
        return KNOWN_BINARY
    types = schema.attribute_types

    def syntax(info: Any) -> str | None:
        # "…1.15{256}": the length is no syntax
        return str(info.syntax).split("{")[0] if info.syntax else None

    binary: set[str] = set(KNOWN_BINARY)
    for key, info in types.items():
        if inherited(types, str(key), syntax) in BINARY_SYNTAXES:
            binary.update(str(alias).lower() for alias in (info.name or [key]))
    return frozenset(binary)


DN_SYNTAX = "1.3.6.1.4.1.1466.115.121.1.12"


@dataclass(frozen=True)
class DnValued:
    """The attributes whose values are DNs (lower-case names, every alias), and how the
    schema names each attribute type (lower-case alias → its first name), per the schema
    the server published; none when it published none."""

    attributes: frozenset[str] = frozenset()
    names: Mapping[str, str] = field(default_factory=dict)


def dn_valued(conn: ldap3.Connection, but: Sequence[str] = ()) -> DnValued:
    """`DnValued` of the server's schema, `but` those attributes (references, whose
    values name objects as the source does)."""
    schema = conn.server.schema
    if schema is None or not schema.attribute_types:
        return DnValued()
    types = schema.attribute_types

    def syntax(info: Any) -> str | None:
        return str(info.syntax).split("{")[0] if info.syntax else None

    attributes: set[str] = set()
    names: dict[str, str] = {}
    for key, info in types.items():
        aliases = [str(alias) for alias in (info.name or [key])]
        names.update((alias.lower(), aliases[0]) for alias in aliases)
        if inherited(types, str(key), syntax) == DN_SYNTAX:
            attributes.update(alias.lower() for alias in aliases)
    return DnValued(frozenset(attributes - {name.lower() for name in but}), names)


# Equality rules that compare text without case (RFC 4517), by lower-case name and OID.
_WITHOUT_CASE = frozenset(
    {
        "caseignorematch",
        "caseignoreia5match",
        "caseignorelistmatch",
        "2.5.13.2",
        "1.3.6.1.4.1.1466.109.114.2",
        "2.5.13.11",
    }
)


def keys_fold(conn: ldap3.Connection, keys: Sequence[str]) -> bool | None:
    """Whether the key attributes compare values without case, per the equality rules of
    the schema the server published (inherited from a superior type): True when every
    one does (uid, cn, mail), False when none does (an attribute with caseExactMatch),
    None when some do, or the schema does not say."""
    schema = conn.server.schema
    if schema is None or not schema.attribute_types or not keys:
        return None
    types = schema.attribute_types

    def equality(info: Any) -> str | None:
        return str(info.equality[0]).lower() if info.equality else None

    rules = [inherited(types, key, equality) for key in keys]
    if None in rules:
        return None
    folding = [rule in _WITHOUT_CASE for rule in rules]
    return True if all(folding) else False if not any(folding) else None


_WITH_CASE = frozenset(
    {"caseexactmatch", "caseexactia5match", "2.5.13.5", "1.3.6.1.4.1.1466.109.114.1"}
)
"""Equality rules that compare text with case (RFC 4517), by lower-case name and OID."""


_USER_APPLICATION = "USER_APPLICATION"
"""ldap3's usage of an attribute type of users (rfc4512.ATTRIBUTE_USER_APPLICATION), not
operational (directoryOperation, dSAOperation, …)."""


class Compared:
    """What the server's schema says of attributes and classes for a filter evaluated on
    the values a create writes (matching.py): how each attribute compares its values,
    which ones the server never sets of its own, and each class's superiors. A server
    that publishes no schema tells nothing: no attribute surely absent, no rule known."""

    def __init__(self, conn: ldap3.Connection) -> None:
        schema = conn.server.schema
        self._types: Mapping[str, Any] = (schema.attribute_types if schema else None) or {}
        self._classes: Mapping[str, Any] = (schema.object_classes if schema else None) or {}
        self._supertypes = {
            str(parent).lower() for info in self._types.values() for parent in info.superior or ()
        }

    def rule(self, name: str) -> str | None:
        """ "folds" (caseIgnoreMatch), "exact" (caseExactMatch), or None (another rule, or
        one not known)."""

        def equality(info: Any) -> str | None:
            return str(info.equality[0]).lower() if info.equality else None

        found = inherited(self._types, name, equality)
        return "folds" if found in _WITHOUT_CASE else "exact" if found in _WITH_CASE else None

    def absent(self, name: str) -> bool:
        """Whether an entry holds no value of the attribute unless it is written: one of
        users (not operational, nor set by the server alone) that no other type is a
        subtype of (a filter on `name` matches `cn` and `sn`)."""
        info = self._types.get(name)
        if info is None or info.no_user_modification or name.lower() in self._supertypes:
            return False
        return info.usage in (None, _USER_APPLICATION)

    def classes(self, names: Iterable[str]) -> set[str]:
        """The classes and their superiors, lower-case (an inetOrgPerson is a person)."""
        out: set[str] = set()
        todo = [str(name) for name in names]
        while todo:
            name = todo.pop()
            if name.lower() in out:
                continue
            out.add(name.lower())
            info = self._classes.get(name)
            if info is not None:
                todo += [str(parent) for parent in info.superior or ()]
        return out
