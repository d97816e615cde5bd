"""The LDAP read's one-pass decoding of search entries (`Values.records`) gives exactly
the records of the usual decoding, `Values.record(ber.entry(body))`, entry by entry:
over generated entries with every shape a directory sends — short and long BER lengths
(Active Directory writes every length in four octets), attributes without values, one
value or many, values past 127 and 255 octets, binary attributes and `;binary` options,
octets that are no UTF-8 in a text attribute, multi-valued fields, names spelled
otherwise than the job spells them, non-ASCII and escaped DNs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.values import Binary
from services.providers.ldap import ber as w
from services.providers.ldap.values import Values

Entry = tuple[bytes, list[tuple[bytes, list[bytes]]]]

NAMES = [b"cn", b"CN", b"sn", b"mail", b"member", b"jpegPhoto", b"userCertificate;binary"]
NAMES += [b"objectGUID", b"description", b"businessCategory", b"cn;lang-fr", b"x-" + b"a" * 130]
DNS = [
    "uid=jdoe,ou=People,dc=example,dc=org",
    "cn=Smith\\, Jr.,ou=People,dc=example,dc=org",
    "cn=Zoë Ångström+uid=z1,ou=Équipe,dc=example,dc=org",
    "cn=\\#hash\\ ,ou=x\\2Cy,dc=example,dc=org",
    "cn=" + "é" * 200 + ",dc=example,dc=org",
]


def length(n: int, style: int) -> bytes:
    """A BER length: the shortest (style 0), always in four octets as Active Directory
    writes them (1), or long whenever it may be (2)."""
    if style == 0 or (style == 2 and n < 0x80 and n % 2):
        return bytes((n,)) if n < 0x80 else w._length(n)
    size = 4 if style == 1 else max(1, (n.bit_length() + 7) // 8)
    return bytes((0x80 | size,)) + n.to_bytes(size, "big")


def encode(entry: Entry, style: int) -> bytes:
    def tlv(tag: int, content: bytes) -> bytes:
        return bytes((tag,)) + length(len(content), style) + content

    dn, attributes = entry
    listed = b"".join(
        tlv(0x30, tlv(0x04, name) + tlv(0x31, b"".join(tlv(0x04, v) for v in values)))
        for name, values in attributes
    )
    return tlv(0x04, dn) + tlv(0x30, listed)


values = st.one_of(
    st.text(max_size=40).map(str.encode),
    st.text(min_size=120, max_size=300).map(str.encode),
    st.binary(max_size=300),  # often no UTF-8: a photo, or a text attribute's bad octets
    st.sampled_from([b"", b"\xff\xfe", "Ørsted".encode(), b"a" * 127, b"b" * 128, b"c" * 256]),
)
entries = st.tuples(
    st.one_of(st.sampled_from(DNS), st.text(max_size=80)).map(str.encode),
    st.lists(st.tuples(st.sampled_from(NAMES), st.lists(values, max_size=4)), max_size=8),
)


def both(reading: Values, bodies: list[bytes]) -> None:
    usual = [w.entry(body) for body in bodies]
    records, dns = reading.records(bodies)
    assert records == [reading.record(raw) for raw in usual]
    assert dns == [raw[0] for raw in usual]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(entries, max_size=6),
    st.integers(0, 2),
    st.booleans(),
    st.lists(st.sampled_from(["cn", "member", "businessCategory", "MAIL"]), max_size=3),
)
def test_one_pass_decoding_gives_the_usual_records(
    found: list[Entry], style: int, with_dn: bool, multi: list[str]
) -> None:
    reading = Values(
        binary=frozenset({"jpegphoto", "objectguid", "usercertificate"}),
        multi_valued=multi,
        spellings=["mail", "Member", *multi],
        with_dn=with_dn,
    )
    both(reading, [encode(entry, style) for entry in found])


def test_records_hold_text_lists_binary_and_the_dn() -> None:
    """What a read's records hold, entry by entry: one value as text, several (or a
    multi-valued field) as a list, a binary attribute's first value, bad UTF-8 as
    binary, no field for an attribute without values, names as the job spells them."""
    reading = Values(
        binary=frozenset({"jpegphoto"}),
        multi_valued=["businessCategory"],
        spellings=["Mail", "businessCategory"],
        with_dn=True,
    )
    dn = "cn=Zoë\\, A,ou=Équipe,dc=example,dc=org".encode()
    entry: Entry = (
        dn,
        [
            (b"cn", ["Zoë".encode()]),
            (b"mail", [b"zoe@example.org"]),
            (b"description", [b"one", b"two"]),
            (b"businessCategory", [b"staff"]),
            (b"jpegPhoto", [b"\xff\xd8" + b"\x00" * 300, b"\xff\xd8"]),
            (b"title", [b"\xff\xfe"]),
            (b"seeAlso", []),
        ],
    )
    for style in (0, 1, 2):
        (record,), dns = reading.records([encode(entry, style)])
        assert dns == [dn]
        assert record == {
            "dn": "cn=Zoë\\, A,ou=Équipe,dc=example,dc=org",
            "cn": "Zoë",
            "Mail": "zoe@example.org",
            "description": ["one", "two"],
            "businessCategory": ["staff"],
            "jpegPhoto": Binary(b"\xff\xd8" + b"\x00" * 300),
            "title": Binary(b"\xff\xfe"),
        }
        both(reading, [encode(entry, style)])
