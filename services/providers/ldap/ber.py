"""LDAP messages in BER (RFC 4511) for the provider's hot paths: paged reads, pipelined
writes (wire.py sends and receives them).

ldap3 opens, secures and binds each connection; the provider then speaks LDAP directly
on that connection's socket, because ldap3 encodes every request with pyasn1 (about
1.5 ms per add) and formats every value it reads (a tenth of ldapsearch's speed), and
a bulk load must run near the command-line tools. Only what the provider needs is here:
add, modify, delete, modify DN and search requests with the paged-results control out;
results and search entries in. Values travel as octet strings, never as filter or DN
text, so no value can change an operation.
"""

from __future__ import annotations

from typing import NamedTuple

# Protocol operation tags (RFC 4511, section 4.2 ff.).
ADD, MODIFY, DELETE, MODIFY_DN, SEARCH = 0x68, 0x66, 0x4A, 0x6C, 0x63
ENTRY, REFERENCE, DONE = 0x64, 0x73, 0x65
EXTENDED_RESPONSE = 0x78  # a notice of disconnection arrives as one, with message id 0
MOD_ADD, MOD_DELETE, MOD_REPLACE = 0, 1, 2
SCOPE_BASE, SCOPE_LEVEL, SCOPE_SUBTREE = 0, 1, 2
PAGED_RESULTS = b"1.2.840.113556.1.4.319"
# Adding a value that is there, or deleting one that is not, succeeds: so adds and
# deletes of values are idempotent as every write must be (OpenLDAP, AD, 389-DS).
PERMISSIVE_MODIFY = b"1.2.840.113556.1.4.1413"

# Result codes the provider acts on.
SUCCESS = 0
TIME_LIMIT, SIZE_LIMIT = 3, 4
NO_SUCH_ATTRIBUTE = 16
VALUE_EXISTS = 20
NO_SUCH_OBJECT = 32
ALREADY_EXISTS = 68
BUSY, UNAVAILABLE, UNWILLING, OTHER = 51, 52, 53, 80


class Result(NamedTuple):
    code: int
    matched: str
    message: str


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def octets(value: bytes, tag: int = 0x04) -> bytes:
    return bytes((tag,)) + _length(len(value)) + value


def integer(n: int, tag: int = 0x02) -> bytes:
    return tlv(tag, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True))


def _set_of(values: list[bytes]) -> bytes:
    return tlv(0x31, b"".join([octets(v) for v in values]))


def message(mid: int, op: bytes, controls: bytes = b"") -> bytes:
    return tlv(0x30, integer(mid) + op + controls)


def add_request(dn: bytes, attributes: list[tuple[bytes, list[bytes]]]) -> bytes:
    attrs = b"".join([tlv(0x30, octets(name) + _set_of(vals)) for name, vals in attributes])
    return tlv(ADD, octets(dn) + tlv(0x30, attrs))


def modify_request(dn: bytes, changes: list[tuple[int, bytes, list[bytes]]]) -> bytes:
    """`changes`: (MOD_ADD | MOD_DELETE | MOD_REPLACE, attribute, values); a replace with no
    values removes the attribute and is no error when it is absent."""
    items = b"".join(
        [
            tlv(0x30, integer(op, 0x0A) + tlv(0x30, octets(name) + _set_of(vals)))
            for op, name, vals in changes
        ]
    )
    return tlv(MODIFY, octets(dn) + tlv(0x30, items))


def delete_request(dn: bytes) -> bytes:
    return octets(dn, DELETE)


def modify_dn_request(dn: bytes, new_rdn: bytes, new_superior: bytes | None) -> bytes:
    superior = octets(new_superior, 0x80) if new_superior is not None else b""
    return tlv(MODIFY_DN, octets(dn) + octets(new_rdn) + b"\x01\x01\xff" + superior)


def search_request(base: bytes, scope: int, filter_ber: bytes, attributes: list[bytes]) -> bytes:
    """No size or time limit of our own (the server's apply); never dereference aliases."""
    return tlv(
        SEARCH,
        octets(base)
        + integer(scope, 0x0A)
        + integer(0, 0x0A)
        + integer(0)
        + integer(0)
        + b"\x01\x01\x00"
        + filter_ber
        + tlv(0x30, b"".join([octets(a) for a in attributes])),
    )


def paged_control(size: int, cookie: bytes) -> bytes:
    """Critical: a server that cannot page refuses the search instead of cutting it short."""
    value = tlv(0x30, integer(size) + octets(cookie))
    return tlv(0xA0, tlv(0x30, octets(PAGED_RESULTS) + b"\x01\x01\xff" + octets(value)))


def permissive_control() -> bytes:
    """Critical: a server that does not know it refuses the modify instead of failing on a
    value already added (or deleted) by an earlier delivery of the same batch."""
    return tlv(0xA0, tlv(0x30, octets(PERMISSIVE_MODIFY) + b"\x01\x01\xff"))


def equality_filter(attribute: bytes, value: bytes) -> bytes:
    return tlv(0xA3, octets(attribute) + octets(value))


def and_filter(parts: list[bytes]) -> bytes:
    return tlv(0xA0, b"".join(parts))


def or_filter(parts: list[bytes]) -> bytes:
    return tlv(0xA1, b"".join(parts))


def element_at(data: bytes, i: int) -> tuple[int, int, int]:
    """(tag, length, offset of the content) of the element at `i`."""
    tag, n = data[i], data[i + 1]
    i += 2
    if n & 0x80:
        size = n & 0x7F
        n = int.from_bytes(data[i : i + size], "big")
        i += size
    return tag, n, i


def result(body: bytes) -> Result:
    """An LDAPResult: code, matched DN, diagnostic message."""
    _, n, i = element_at(body, 0)
    code = int.from_bytes(body[i : i + n], "big")
    _, n, i = element_at(body, i + n)
    matched = body[i : i + n].decode("utf-8", "replace")
    _, n, i = element_at(body, i + n)
    return Result(code, matched, body[i : i + n].decode("utf-8", "replace"))


def entry(body: bytes) -> tuple[bytes, list[tuple[bytes, list[bytes]]]]:
    """A SearchResultEntry: its DN and (attribute, values) in the order the server sent.

    This runs for every entry read, so the length decoding is written out in place
    (a call per element would double the time of a large read)."""
    n, i = body[1], 2
    if n & 0x80:
        k = n & 0x7F
        n, i = int.from_bytes(body[2 : 2 + k], "big"), 2 + k
    dn = body[i : i + n]
    i += n + 1  # the attribute list's tag
    n = body[i]
    i += 1
    if n & 0x80:
        k = n & 0x7F
        n, i = int.from_bytes(body[i : i + k], "big"), i + k
    end = i + n
    attributes: list[tuple[bytes, list[bytes]]] = []
    append = attributes.append
    while i < end:
        n = body[i + 1]  # one attribute's SEQUENCE: skip its header
        i += 2
        if n & 0x80:
            i += n & 0x7F
        n = body[i + 1]  # the attribute's name
        i += 2
        if n & 0x80:
            k = n & 0x7F
            n, i = int.from_bytes(body[i : i + k], "big"), i + k
        name = body[i : i + n]
        i += n
        n = body[i + 1]  # the SET of values
        i += 2
        if n & 0x80:
            k = n & 0x7F
            n, i = int.from_bytes(body[i : i + k], "big"), i + k
        stop = i + n
        values: list[bytes] = []
        while i < stop:
            n = body[i + 1]
            i += 2
            if n & 0x80:
                k = n & 0x7F
                n, i = int.from_bytes(body[i : i + k], "big"), i + k
            values.append(body[i : i + n])
            i += n
        append((name, values))
    return dn, attributes


def references(body: bytes) -> list[bytes]:
    """A SearchResultReference's URLs (RFC 4511, section 4.5.3)."""
    urls: list[bytes] = []
    i = 0
    while i < len(body):
        _, n, i = element_at(body, i)
        urls.append(body[i : i + n])
        i += n
    return urls


def paged_cookie(controls: bytes) -> bytes:
    """The paged-results cookie among a SearchResultDone's controls; b"" when none."""
    if not controls:
        return b""
    _, n, i = element_at(controls, 0)
    end = i + n
    while i < end:
        _, n, i = element_at(controls, i)
        after = i + n
        _, n, j = element_at(controls, i)
        oid = controls[j : j + n]
        tag, n, j = element_at(controls, j + n)
        if tag == 0x01:  # criticality
            tag, n, j = element_at(controls, j + n)
        if oid == PAGED_RESULTS:
            _, n, j = element_at(controls, j)  # the value's SEQUENCE
            _, n, j = element_at(controls, j)  # size
            _, n, j = element_at(controls, j + n)  # cookie
            return controls[j : j + n]
        i = after
    return b""
