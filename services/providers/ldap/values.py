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
from collections.abc import Iterable, Mapping

from schemas.values import Binary, Record, Value, normalize

DN_FIELD = "dn"
"""The field holding an entry's DN in the records a source reads (read-only)."""
RawEntry = tuple[bytes, list[tuple[bytes, list[bytes]]]]


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
    ) -> None:
        self.binary = binary
        self.multi = {name.lower() for name in multi_valued}
        self.spelling = {name.lower(): name for name in spellings}
        self.with_dn = with_dn
        self._names: dict[bytes, tuple[str, bool, bool]] = {}

    def is_binary(self, name: str) -> bool:
        return _base(name) in self.binary or ";binary" in name.lower()

    def _name(self, raw: bytes) -> tuple[str, bool, bool]:
        """(field, binary, multi-valued) for an attribute name as the server sends it."""
        known = self._names.get(raw)
        if known is None:
            text = raw.decode("utf-8", "replace")
            field = self.spelling.get(text.lower(), text)
            known = (field, self.is_binary(text), text.lower() in self.multi)
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

    def canonical(self, record: Record) -> Record:
        """The record as an entry would hold it: no DN field, base64 text of binary
        attributes decoded, values unique, one value as text unless multi-valued."""
        out: dict[str, Value | None] = {}
        for name, value in record.items():
            if name.lower() == DN_FIELD:
                continue
            if self.is_binary(name):
                out[name] = _binary(value)
                continue
            if isinstance(value, list):
                items = list(dict.fromkeys(item for item in value if item))
                if len(items) == 1 and name.lower() not in self.multi:
                    out[name] = items[0]
                else:
                    out[name] = items
            elif isinstance(value, str) and value and name.lower() in self.multi:
                out[name] = [value]
            else:
                out[name] = value
        return normalize(out)


def _binary(value: Value) -> Value:
    """Binary as is; text (from a file) as the base64 it holds, or as is when it is not."""
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, str):
        if not value:
            return value
        try:
            return Binary(base64.b64decode(value, validate=True))
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
