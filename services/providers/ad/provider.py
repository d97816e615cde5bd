"""Active Directory (and Samba AD domain controllers): the LDAP provider, plus AD's ways.

What differs from a generic directory (../ldap does the rest: paged reads, pipelined
idempotent writes, moves):
- object types user, contact, group and container (OU), each with its class and a
  read filter that finds only its kind (users: sAMAccountType, so no computers);
- new objects are named by `cn` (`ou` for OUs): the key is usually sAMAccountName or
  employeeID, so creates look their key up first (ldap/provider.py `lookup_creates`);
- passwords, enabling and disabling through userAccountControl (write.py);
- an account whose create never finished (added, never given a password: the
  connection broke after the add) is left out of a destination's read when the job
  gives passwords, so the plan creates it again and the create finishes it;
- objectGUID and objectSid read as text; ranged values (`member;range=0-1499`) read
  whole, the rest fetched on a second connection;
- incremental reads by uSNChanged against the DC's highestCommittedUSN.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec

from core.errors import BadInput, Transient
from schemas.connections import ActiveDirectoryConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record, Value, normalize

from ..base import Layout
from ..ldap import ber as w
from ..ldap import matching
from ..ldap.connection import Session, connect
from ..ldap.dn import compile_filter
from ..ldap.provider import LdapProvider
from ..ldap.steps import Step
from ..ldap.values import RawEntry
from ..ldap.wire import Wire
from ..ldap.write import Pipeline
from .kinds import AD_CLASSES
from .values import (
    DN_VALUED,
    EVERY_ENTRY,
    GUID,
    PASSWORD_FIELD,
    SCHEMA_OPTIONAL,
    SID,
    canonical_id,
    dn_spelling,
    group_type,
    guid_text,
    merge_ranges,
    number,
    ranged,
    schema_has,
    shape_read,
    unfinished,
    with_schema,
)
from .write import AdPipeline, Extra

# Read filters by class: "user" alone would also find computers (a subclass of user).
CLASS_FILTERS = {
    "user": "(sAMAccountType=805306368)",
    "contact": "(objectClass=contact)",
    "group": "(objectClass=group)",
    "organizationalunit": "(objectClass=organizationalUnit)",
}
USN_FIELD = "uSNChanged"
ACCOUNT_STATE = ("userAccountControl", "pwdLastSet")
"""Read for disabling, enabling and finishing creates, whether or not the job maps them."""


def ad_filter(classes: tuple[str, ...]) -> str:
    """The read filter of an endpoint's object classes (default: user accounts)."""
    parts = [CLASS_FILTERS.get(c.lower(), f"(objectClass={c})") for c in classes or ("user",)]
    return parts[0] if len(parts) == 1 else f"(&{''.join(parts)})"


RANGE_TRIES = 3
"""How many times the parts of a value sent in ranges are read, each time from its first,
before a read that keeps meeting changes fails (`AdProvider._every_part`)."""


class AdProvider(LdapProvider):
    default_classes = AD_CLASSES
    extra_attributes = ACCOUNT_STATE
    lookup_creates = True
    checks_attributes = False
    """Active Directory's optional attributes (Exchange's) are handled by the schema
    they are found in (SCHEMA_OPTIONAL), and its account state is read besides."""
    spells_dns = False  # AD keeps DNs in its own spelling: `dn_spelling`
    skips_references = True
    """A search from a domain's root meets references to its application partitions
    (DomainDnsZones, ForestDnsZones), its configuration and its child domains: none holds
    this domain's accounts (AD has no referral objects of an administrator's own)."""

    @property
    def keys_fold(self) -> bool | None:
        """Active Directory compares text values without case (base.py): "Ann" and
        "ann" are one account, whatever its schema publishes."""
        return True

    def value_folds(self, field: str) -> bool:
        """Active Directory compares text values without case, whatever its schema
        publishes: a reference `by` any field is looked up so."""
        return True

    def _written(self, texts: dict[str, list[str]], classes: list[str]) -> matching.Written:
        """The values a create writes, as Active Directory compares them: text without
        case; an attribute not written may be one it sets of its own (objectCategory,
        sAMAccountType, the account's state), and so may a class (top, person): the query
        is decided by what is written alone."""
        return matching.Written(texts, classes, rule=_folds, absent=_never)

    def __init__(
        self, connection: ActiveDirectoryConnection, endpoint: Endpoint, layout: Layout
    ) -> None:
        if connection.tls == "none":
            raise BadInput(
                f'ad connection {connection.id!r}: tls = "none" cannot work: Active Directory '
                'takes binds and passwords over TLS only; set tls = "ldaps" or "starttls"'
            )
        wanted = {name.lower() for name in (*layout.keys, *layout.fields)}
        # The account's state is read even when the job does not map it; then it is no
        # field of the records. (A job that copies every field reads it anyway.)
        unmapped = [n for n in ACCOUNT_STATE if layout.fields and n.lower() not in wanted]
        self._unmapped = frozenset(name.lower().encode() for name in unmapped)
        if unmapped:
            layout = msgspec.structs.replace(layout, fields=(*layout.fields, *unmapped))
        # A job that gives passwords finishes the creates left unfinished (write.py).
        self._finishes = PASSWORD_FIELD in wanted
        super().__init__(connection, endpoint, layout)
        self._rdn = endpoint.rdn_attribute or "cn"
        self._own_rdn = endpoint.rdn_attribute is not None
        if not endpoint.query:
            self._query = ad_filter(self._classes)
            self._filter = compile_filter(self._query, "ad: the endpoint's object_classes")
        self._uacs: dict[str, int] = {}
        self._passwordless: set[str] = set()
        """Lower-case DNs of accounts read as never given a password (`unfinished`)."""
        self._extras: dict[int, Extra] = {}
        self._side: Session | None = None  # small base searches, apart from paged reads
        self._mark: str | None = None
        self._schema_has: frozenset[str] = frozenset()
        """The SCHEMA_OPTIONAL attributes this directory's schema has (lower case)."""
        self._spelled_dns = DN_VALUED - {name.lower() for name in layout.references}
        """The DN-valued attributes whose values are DNs as AD spells them: not a field
        resolving references, whose values name objects as the source spells them."""

    async def open(self, *, write: bool) -> None:
        await super().open(write=write)
        schema = self._sessions[0].conn.server.schema
        self._schema_has = schema_has(schema.attribute_types if schema is not None else None)

    # Reading.

    def _records(self, bodies: list[bytes]) -> tuple[list[Record], list[bytes]]:
        return self._entries(bodies)  # ranged values, account states: `_entry` below

    def _entry(self, raw: RawEntry) -> Record:
        dn, attributes = raw
        attributes, missing = merge_ranges(attributes)
        if missing:
            attributes = self._rest_of_ranges(dn, attributes, missing)
        uac = pwd_last_set = None
        for name, values in attributes:
            low = name.lower()
            if low == b"useraccountcontrol":
                uac = number(values)
            elif low == b"pwdlastset":
                pwd_last_set = number(values)
        if uac is not None:
            self._uacs[dn.decode("utf-8", "replace").lower()] = uac
            if unfinished(uac, pwd_last_set):
                self._passwordless.add(dn.decode("utf-8", "replace").lower())
            else:
                self._passwordless.discard(dn.decode("utf-8", "replace").lower())
            if self._write and self._finishes and unfinished(uac, pwd_last_set):
                self._hidden.add(dn)  # planned as a create, which finishes it
        if self._unmapped:
            attributes = [a for a in attributes if a[0].lower() not in self._unmapped]
        record = super()._entry((dn, attributes))
        shape_read(record)
        return record

    def _side_wire(self) -> Wire:
        if self._side is None:
            self._side = connect(self._connection)
        return self._side.wire

    def _base_search(self, dn: bytes, attributes: list[bytes]) -> list[tuple[bytes, list[bytes]]]:
        """One entry's attributes, on the side connection (blocking)."""
        wire = self._side_wire()
        mid = wire.send(w.search_request(dn, w.SCOPE_BASE, EVERY_ENTRY, attributes))
        found: list[tuple[bytes, list[bytes]]] = []
        for message in wire.receive():
            if message.id != mid:
                continue
            if message.op == w.ENTRY:
                found = w.entry(message.body)[1]
                continue
            if message.op == w.DONE:
                done = w.result(message.body)
                if done.code != w.SUCCESS:
                    text = done.message or str(done.code)
                    raise BadInput(f"ad: reading {dn.decode('utf-8', 'replace')} failed ({text})")
                return found
        raise AssertionError("unreachable: receive() never ends by itself")

    def _rest_of_ranges(
        self, dn: bytes, attributes: list[tuple[bytes, list[bytes]]], missing: dict[bytes, int]
    ) -> list[tuple[bytes, list[bytes]]]:
        """The values a DC sent in parts (more than its MaxValRange, 1500 by default).

        Each part is the values from an index on: a value removed while the parts are read
        moves those after it back a place, and the next part starts past one of them — a
        member left out, which a plan would take away. So every part is read again from
        the first, with the entry's uSNChanged (any change to the entry moves it), until
        all the parts of one read were read at the same uSNChanged."""
        merged = {name.lower(): (name, list(values)) for name, values in attributes}
        for name in missing:
            merged[name.lower()] = (name, self._every_part(dn, name))
        return list(merged.values())

    def _every_part(self, dn: bytes, name: bytes) -> list[bytes]:
        """Every value of `name`, its parts all read at one uSNChanged of the entry."""
        for _ in range(RANGE_TRIES):
            values: list[bytes] = []
            seen: set[bytes] = set()
            start: int | None = 0
            while start is not None:
                asked = name + b";range=%d-*" % start
                got = self._base_search(dn, [asked, b"uSNChanged"])
                part = None
                for attribute, found in got:
                    if attribute.lower() == b"usnchanged":
                        seen.update(found)
                    elif (at := ranged(attribute)) is not None and at[0].lower() == name.lower():
                        part = at
                        values.extend(found)
                if part is None and start:  # no part from there: fewer values than read
                    seen.add(b"")
                start = part[1] if part is not None else None
            if b"" not in seen and len(seen) <= 1:  # (an account not let read it: one read)
                return values
        shown = dn.decode("utf-8", "replace")
        raise Transient(
            f"ad: the values of {name.decode('utf-8', 'replace')} of {shown} changed while "
            f"they were read in parts ({RANGE_TRIES} times): a value missed would be taken "
            "for removed (the read is tried again later)"
        )

    def canonical(self, record: Record) -> Record:
        ids: dict[str, Value | None] = {}
        rest: Record = {}
        for name, value in record.items():
            low = name.lower()
            if low in (GUID, SID):
                ids[name] = canonical_id(name, value)
            elif low in self._spelled_dns:
                rest[name] = dn_spelling(value)
            else:
                rest[name] = group_type(value) if low == "grouptype" else value
        return {**super().canonical(rest), **normalize(ids)}

    def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        """Objects whose uSNChanged is above the watermark: "<DC invocationId>:<USN>",
        the DC's highestCommittedUSN read before the search (what changes during the
        read comes again next time). A watermark of another DC (USNs are per DC) or none
        reads everything. Deletions are not seen: incremental runs never act on absence."""
        if field is not None and field.lower() != USN_FIELD.lower():
            raise BadInput(
                f"ad: incremental runs compare uSNChanged with the domain controller's "
                f"highestCommittedUSN; leave changes.field out instead of {field!r}"
            )
        return self._read_since(batch_size, since)

    async def _read_since(self, batch_size: int, since: str | None) -> AsyncIterator[list[Record]]:
        server, highest = await asyncio.to_thread(self._usn_now)
        self._mark = None
        mine, _, usn = (since or "").rpartition(":")
        full = self._filter
        if mine == server and usn.isdigit():
            query = f"(&{self._query}(uSNChanged>={int(usn) + 1}))"
            self._filter = compile_filter(query, "ad: the endpoint's query with uSNChanged")
        try:
            async for batch in self.read(batch_size):
                yield batch
        finally:
            self._filter = full
        self._mark = f"{server}:{highest}"

    def _usn_now(self) -> tuple[str, int]:
        """(the DC's invocationId, its highestCommittedUSN)."""
        root = dict(self._base_search(b"", [b"highestCommittedUSN", b"dsServiceName"]))
        settings = root.get(b"dsServiceName", [b""])[0]
        usn = int(root.get(b"highestCommittedUSN", [b"0"])[0])
        ntds = dict(self._base_search(settings, [b"invocationId"]))
        invocation = ntds.get(b"invocationId", [b""])[0]
        return (guid_text(invocation) if len(invocation) == 16 else settings.decode()), usn

    def watermark(self) -> str | None:
        return self._mark

    # Writing.

    def _step(self, index: int, change: Change) -> Step:
        extra = Extra()
        named = [*change.set, *change.clear] if change.action in ("create", "update") else []
        if any(name.lower() in SCHEMA_OPTIONAL for name in named):  # where the schema has it
            present = self._schema_has
            clear = tuple(n for n in change.clear if n.lower() not in SCHEMA_OPTIONAL - present)
            change = msgspec.structs.replace(
                change, set=with_schema(change.set, present), clear=clear
            )
        if change.action == "create":
            values = dict(change.set)
            for name in [n for n in values if n.lower() in (PASSWORD_FIELD, GUID, SID)]:
                value = values.pop(name)  # the password is set after the add; ids AD makes
                if name.lower() == PASSWORD_FIELD and isinstance(value, str):
                    extra.password = value
            change = msgspec.structs.replace(change, set=values)
        step = super()._step(index, change)
        if change.object_type == "container" and not self._own_rdn:
            step.target.rdn_attribute = "ou"
        name = step.target.rdn_attribute or "cn"
        if change.action == "create" and not _has(change.set, name) and step.key:
            # Named after the key when the job maps no cn (or ou).
            change = msgspec.structs.replace(change, set={**change.set, name: step.key[0]})
            step.change = change
        extra.user = "user" in {c.lower() for c in step.target.object_classes}
        self._extras[index] = extra
        return step

    def _pipeline(self, wire: Wire) -> Pipeline:
        # The query alone (a read of what changed adds uSNChanged to `_filter`).
        query = (self._query, compile_filter(self._query, "ad: the endpoint's query"))
        return AdPipeline(wire, self._dns, self._uacs, self._extras, self._passwordless, query)

    async def close(self) -> None:
        side, self._side = self._side, None
        if side is not None:
            await asyncio.to_thread(side.close)
        await super().close()


def _has(values: Record, name: str) -> bool:
    return any(k.lower() == name.lower() and v for k, v in values.items())


def _folds(_: str) -> str:
    return matching.FOLDS


def _never(_: str) -> bool:
    return False
