"""Entries as records and records as attribute values.

An entry reads as a record of its attributes: one value as text, several as a list
(or a list whenever the job declares the field multi-valued), binary attributes as
`Binary`, and its DN under the field "dn" when it is read as a source. Attribute names
are case-insensitive in LDAP: each is spelled as the job spells it, so a job mapping
`givenname` meets the server's `givenName`.
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from collections.abc import Iterable, Mapping

from core.engine.policies import alike
from schemas.values import Binary, Record, Value, normalize

from .connection import DnValued
from .dn import stored_dn

DN_FIELD = "dn"
"""The field holding an entry's DN in the records a source reads (read-only)."""
RawEntry = tuple[bytes, list[tuple[bytes, list[bytes]]]]
_Name = tuple[str, bool, bool, bool]


def _base(name: str) -> str:
    """An attribute description's type, lower-case: "userCertificate;binary" → usercertificate."""
    return name.split(";", 1)[0].lower()


class Values:
    """How one side of a job turns entries into records and back."""

    def __init__(
        self,
        *,
        binary: frozenset[str],
        multi_valued: Iterable[str],
        spellings: Iterable[str],
        with_dn: bool,
        dns: DnValued | None = None,
        folds: Iterable[str] = (),
    ) -> None:
        self.binary = binary
        self.dns = dns or DnValued()
        self.folds = frozenset(name.lower() for name in folds)
        """Attributes whose values compare without case (and the spaces around and inside
        them made one, RFC 4518): values alike so are one value there."""
        self.multi = {name.lower() for name in multi_valued}
        self.spelling = {name.lower(): name for name in spellings}
        self.with_dn = with_dn
        self._names: dict[bytes, _Name] = {}

    def is_binary(self, name: str) -> bool:
        return _base(name) in self.binary or ";binary" in name.lower()

    def _name(self, raw: bytes) -> _Name:
        """(field, binary, multi-valued, neither) for an attribute name as the server
        sends it."""
        known = self._names.get(raw)
        if known is None:
            text = raw.decode("utf-8", "replace")
            field = self.spelling.get(text.lower(), text)
            binary, multi = self.is_binary(text), text.lower() in self.multi
            known = (field, binary, multi, not binary and not multi)
            self._names[raw] = known
        return known

    def record(self, raw: RawEntry) -> Record:
        dn, attributes = raw
        record: Record = {DN_FIELD: dn.decode("utf-8", "replace")} if self.with_dn else {}
        names = self._names
        for name, values in attributes:  # this runs for every attribute read: kept lean
            if not values:
                continue
            known = names.get(name) or self._name(name)
            field = known[0]
            if known[1]:
                # A record value holds one binary value: the first of several (rare: most
                # binary attributes hold one photo or certificate).
                record[field] = Binary(values[0])
                continue
            try:
                if len(values) == 1 and not known[2]:
                    record[field] = values[0].decode("utf-8")
                else:
                    record[field] = [value.decode("utf-8") for value in values]
            except UnicodeDecodeError:
                record[field] = Binary(values[0])  # octets the schema did not announce
        return record

    def records(self, bodies: list[bytes]) -> tuple[list[Record], list[bytes]]:
        """SearchResultEntry bodies (RFC 4511, section 4.5.2) as records, and their DNs:
        what `record(ber.entry(body))` gives for each, in one pass that builds no list of
        attributes on the way. This runs for every entry a read finds; the BER lengths
        are decoded in place (a call per element would double its time): short ones (the
        usual: under 128 octets) in one test, long ones as `ber.element_at` does."""
        names, with_dn = self._names, self.with_dn
        records: list[Record] = []
        dns: list[bytes] = []
        for body in bodies:
            n, i = body[1], 2  # the entry's DN
            if n & 0x80:
                k = n & 0x7F
                n, i = int.from_bytes(body[2 : 2 + k], "big"), 2 + k
            dn = body[i : i + n]
            dns.append(dn)
            i += n + 1  # the attribute list's tag
            n = body[i]
            i += 1
            if n & 0x80:
                k = n & 0x7F
                n, i = int.from_bytes(body[i : i + k], "big"), i + k
            end = i + n
            record: Record = {DN_FIELD: dn.decode("utf-8", "replace")} if with_dn else {}
            while i < end:
                n = body[i + 1]  # one attribute's SEQUENCE: where it ends
                if n < 0x80:
                    after = i + 2 + n
                    i += 2
                else:
                    k = n & 0x7F
                    after = i + 2 + k + int.from_bytes(body[i + 2 : i + 2 + k], "big")
                    i += 2 + k
                n = body[i + 1]  # its name
                if n < 0x80:
                    i += 2
                else:
                    k = n & 0x7F
                    n, i = int.from_bytes(body[i + 2 : i + 2 + k], "big"), i + 2 + k
                name = body[i : i + n]
                i += n
                known = names.get(name) or self._name(name)
                n = body[i + 1]  # the SET of values: they run to the attribute's end
                i += 2 if n < 0x80 else 2 + (n & 0x7F)
                if i >= after:
                    continue  # no value
                n = body[i + 1]  # the first value
                if n < 0x80:
                    i += 2
                else:
                    k = n & 0x7F
                    n, i = int.from_bytes(body[i + 2 : i + 2 + k], "big"), i + 2 + k
                if known[3] and i + n == after:  # one value, text: the usual attribute
                    try:
                        record[known[0]] = body[i : i + n].decode("utf-8")
                    except UnicodeDecodeError:
                        record[known[0]] = Binary(body[i : i + n])  # octets not announced
                    i = after
                    continue
                if known[1]:  # the first of a binary attribute's values (see `record`)
                    record[known[0]] = Binary(body[i : i + n])
                    i = after
                    continue
                values = [body[i : i + n]]
                i += n
                while i < after:
                    n = body[i + 1]
                    if n < 0x80:
                        i += 2
                    else:
                        k = n & 0x7F
                        n, i = int.from_bytes(body[i + 2 : i + 2 + k], "big"), i + 2 + k
                    values.append(body[i : i + n])
                    i += n
                try:
                    record[known[0]] = [value.decode("utf-8") for value in values]
                except UnicodeDecodeError:
                    record[known[0]] = Binary(values[0])
            records.append(record)
        return records, dns

    def canonical(self, record: Record) -> Record:
        """The record as an entry would hold it: no DN field, base64 text of binary
        attributes decoded, DNs of DN-valued attributes as the directory keeps them
        (`stored_dn`: `UID=a, OU=People` is kept as `uid=a,ou=People`), values unique,
        one value as text unless multi-valued."""
        out: dict[str, Value | None] = {}
        for name, value in record.items():
            if name.lower() == DN_FIELD:
                continue
            if self.is_binary(name):
                out[name] = _binary(value)
                continue
            if name.lower() in self.dns.attributes:
                value = self._stored(value)
            if isinstance(value, list):
                items = list(dict.fromkeys(item for item in value if item))
                if len(items) > 1 and name.lower() in self.folds:  # the first of alike ones
                    firsts: dict[str, str] = {}
                    for item in items:
                        firsts.setdefault(alike(item), item)
                    items = list(firsts.values())
                if len(items) == 1 and name.lower() not in self.multi:
                    out[name] = items[0]
                else:
                    out[name] = items
            elif isinstance(value, str) and value and name.lower() in self.multi:
                out[name] = [value]
            else:
                out[name] = value
        return normalize(out)

    def _stored(self, value: Value) -> Value:
        names = self.dns.names
        if isinstance(value, str):
            return stored_dn(value, names) or value
        if isinstance(value, list):
            return [stored_dn(item, names) or item for item in value]
        return value


def _binary(value: Value) -> Value:
    """Binary as is; text (from a file) as the base64 it holds — over several lines too,
    as exports wrap it (MIME, LDIF: 76 characters a line) —, or as is when it is not."""
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, str):
        if not value:
            return value
        try:
            return Binary(base64.b64decode("".join(value.split()), validate=True))
        except (binascii.Error, ValueError):
            return value  # written as the text it is; the server judges it
    return value


def octets(value: Value) -> list[bytes]:
    """A record value as attribute values."""
    if isinstance(value, str):
        return [value.encode("utf-8")] if value else []
    if isinstance(value, Binary):
        return [value.data] if value.data else []
    return list(dict.fromkeys(item.encode("utf-8") for item in value if item))


def attribute_values(values: Mapping[str, Value]) -> list[tuple[bytes, list[bytes]]]:
    """(attribute, values) of every field, without the DN field and empty values."""
    out: list[tuple[bytes, list[bytes]]] = []
    for name, value in values.items():
        if name.lower() == DN_FIELD or name.startswith("@"):  # "@container": engine-only
            continue
        encoded = octets(value)
        if encoded:
            out.append((name.encode("utf-8"), encoded))
    return out


def holds_key(match: Record, attributes: dict[bytes, list[bytes]]) -> bool:
    """Whether an entry (lower-case attribute name → values) has the change's key values,
    compared as directories compare names (AD always, most LDAP attributes): case
    and Unicode form ignored, surrounding spaces too."""

    def same(text: str) -> str:
        return unicodedata.normalize("NFC", text.strip().casefold())

    for name, value in match.items():
        found = attributes.get(name.lower().encode(), [])
        if not isinstance(value, str) or len(found) != 1:
            return False
        if same(found[0].decode("utf-8", "replace")) != same(value):
            return False
    return bool(match)
