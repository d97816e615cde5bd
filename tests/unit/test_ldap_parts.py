"""The LDAP provider's pure parts: DN and filter escaping, values, BER, connection checks,
secrets. The provider itself is tested against a real slapd (contract and integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.checks.connections import check_connections
from core.errors import BadInput
from schemas.connections import LdapConnection, LdapTimeouts, SecretRef
from schemas.values import Binary
from services.common.definitions import load_connections
from services.common.secrets import resolve_secret
from services.providers import FACTS
from services.providers.ldap import ber as w
from services.providers.ldap.checks import check_ldap_connection
from services.providers.ldap.dn import (
    compile_filter,
    escape_dn_value,
    escape_filter_value,
    key_filter,
    split_rdn,
)
from services.providers.ldap.values import Values, attribute_values


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("jdoe", "jdoe"),
        ("Smith, Jr.", "Smith\\, Jr."),
        ('a+b"c<d>e;f=g\\h', 'a\\+b\\"c\\<d\\>e\\;f\\=g\\\\h'),
        (" lead", "\\ lead"),
        ("trail ", "trail\\ "),
        ("#hash", "\\#hash"),
        ("mid#dle", "mid#dle"),
        ("nul\x00byte", "nul\\00byte"),
        ("*)(uid=*", "*)(uid\\=*"),
        ("Zoë", "Zoë"),
    ],
)
def test_dn_values_are_escaped_per_rfc_4514(value: str, escaped: str) -> None:
    assert escape_dn_value(value) == escaped


def test_split_rdn_honours_escaped_commas() -> None:
    assert split_rdn("uid=Smith\\, Jr.,ou=People,dc=example,dc=org") == (
        "uid=Smith\\, Jr.",
        "ou=People,dc=example,dc=org",
    )
    assert split_rdn("dc=org") == ("dc=org", "")


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("*)(uid=*", "\\2a\\29\\28uid=\\2a"),
        ("back\\slash", "back\\5cslash"),
        ("nul\x00", "nul\\00"),
        ("  both  ", "\\20\\20both\\20\\20"),
        (',+"<>;=#', ',+"<>;=#'),  # not special in a filter
    ],
)
def test_filter_values_are_escaped_per_rfc_4515(value: str, escaped: str) -> None:
    assert escape_filter_value(value) == escaped


@pytest.mark.parametrize("value", ["*)(uid=*", "a\\b", "a\x00b", " x ", "é ü", ',+"<>;=#'])
def test_a_key_filter_asserts_exactly_the_value(value: str) -> None:
    """Whatever the value holds, the compiled filter is one equality with those octets."""
    compiled = compile_filter(key_filter(["uid"], {"uid": value}), "test")
    assert compiled == w.equality_filter(b"uid", value.encode())


def test_a_bad_query_names_the_setting() -> None:
    with pytest.raises(BadInput, match="the endpoint's query: '\\(uid=a' is not an LDAP filter"):
        compile_filter("(uid=a", "the endpoint's query")


def test_entries_decode_as_records_spelled_as_the_job_spells_them() -> None:
    values = Values(
        binary=frozenset({"jpegphoto"}),
        multi_valued=["memberOf"],
        spellings=["givenname", "memberOf"],
        with_dn=True,
    )
    raw = (
        b"uid=a,dc=x",
        [
            (b"givenName", [b"Ann"]),
            (b"mail", [b"a@x", b"b@x"]),
            (b"memberOf", [b"cn=g,dc=x"]),
            (b"jpegPhoto", [b"\xff\xd8"]),
            (b"description", [b"\xff not utf-8"]),
        ],
    )
    assert values.record(raw) == {
        "dn": "uid=a,dc=x",
        "givenname": "Ann",
        "mail": ["a@x", "b@x"],
        "memberOf": ["cn=g,dc=x"],
        "jpegPhoto": Binary(b"\xff\xd8"),
        "description": Binary(b"\xff not utf-8"),
    }


def test_canonical_is_what_an_entry_reads_back() -> None:
    values = Values(
        binary=frozenset({"jpegphoto"}), multi_valued=["groups"], spellings=[], with_dn=False
    )
    assert values.canonical(
        {
            "dn": "uid=a,dc=x",
            "groups": "staff",
            "mail": ["a@x"],
            "cn": ["A", "A", "B"],
            "jpegPhoto": "/9g=",  # base64 text from a file
            "sn": "",
        }
    ) == {"groups": ["staff"], "mail": "a@x", "cn": ["A", "B"], "jpegPhoto": Binary(b"\xff\xd8")}


def test_attribute_values_leave_out_the_dn_and_empty_values() -> None:
    assert attribute_values(
        {
            "dn": "x",
            "@container": "ou=x",
            "cn": "A",
            "sn": "",
            "o": ["a", "", "a"],
            "p": Binary(b"\x00"),
        }
    ) == [(b"cn", [b"A"]), (b"o", [b"a"]), (b"p", [b"\x00"])]


def test_ber_entry_and_paged_cookie_decode() -> None:
    attrs = [(b"cn", [b"A", b"B" * 300]), (b"sn", [b""])]
    body = w.octets(b"cn=A,dc=x") + w.tlv(
        0x30,
        b"".join(
            w.tlv(0x30, w.octets(n) + w.tlv(0x31, b"".join(w.octets(v) for v in vs)))
            for n, vs in attrs
        ),
    )
    assert w.entry(body) == (b"cn=A,dc=x", attrs)
    value = w.tlv(0x30, w.integer(0) + w.octets(b"cookie-1"))
    controls = w.tlv(0xA0, w.tlv(0x30, w.octets(w.PAGED_RESULTS) + w.octets(value)))
    assert w.paged_cookie(controls) == b"cookie-1"
    assert w.paged_cookie(b"") == b""
    assert w.result(w.integer(68, 0x0A) + w.octets(b"dc=x") + w.octets(b"exists")) == (
        68,
        "dc=x",
        "exists",
    )


def _ldap(**fields: object) -> LdapConnection:
    base: dict[str, object] = {"id": "dir", "urls": ["ldap://ldap.example.org"]}
    return LdapConnection(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"urls": []}, ("urls", 'expected at least one URL such as "ldap://ldap.example.org"')),
        (
            {"urls": ["http://x"]},
            ("urls[0]", 'expected "ldap://host[:port]" or "ldaps://…", got \'http://x\''),
        ),
        ({"urls": ["ldaps://x"]}, ("tls", "expected \"ldaps\" for ldaps://x, got 'none'")),
        (
            {"bind_dn": "cn=admin"},
            (
                "password",
                'expected { env = "VAR" } or { file = "path" } to bind as cn=admin, got nothing',
            ),
        ),
        (
            {"password": SecretRef(env="X")},
            ("bind_dn", "expected the DN to bind as with the password, got nothing"),
        ),
        ({"page_size": 0}, ("page_size", "expected 1 to 100000 entries, got 0")),
        ({"pool_size": 99}, ("pool_size", "expected 1 to 32 connections, got 99")),
        (
            {"timeouts": LdapTimeouts(connect=0)},
            ("timeouts.connect", "expected seconds over 0, got 0"),
        ),
    ],
)
def test_connection_checks_name_the_field(
    fields: dict[str, object], problem: tuple[str, str]
) -> None:
    assert check_ldap_connection(_ldap(**fields)) == [problem]


def test_a_connection_file_makes_ca_file_absolute_and_reports_ldap_problems(tmp_path: Path) -> None:
    (tmp_path / "connections.toml").write_text(
        '[dir]\nprovider = "ldap"\nurls = ["ldaps://ldap.example.org"]\ntls = "ldaps"\n'
        'bind_dn = "cn=sync,dc=example,dc=org"\npassword = { env = "DIR_PW" }\nca_file = "ca.pem"\n'
    )
    (connection,) = load_connections(tmp_path / "connections.toml")
    assert isinstance(connection, LdapConnection)
    assert connection.ca_file == str(tmp_path / "ca.pem")
    (tmp_path / "bad.toml").write_text(
        '[dir]\nprovider = "ldap"\nurls = ["ldap://x"]\npage_size = 0\n'
    )
    with pytest.raises(BadInput, match=r"\[dir\]\.page_size: expected 1 to 100000 entries, got 0"):
        bad = load_connections(tmp_path / "bad.toml")
        check_connections(bad, FACTS, origin="bad.toml")


def test_secrets_come_from_the_environment_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDSYNC_TEST_SECRET", "s3cret")
    assert resolve_secret(SecretRef(env="IDSYNC_TEST_SECRET"), "pw") == "s3cret"
    (tmp_path / "pw").write_text("from-file\n")
    assert resolve_secret(SecretRef(file=str(tmp_path / "pw")), "pw") == "from-file"
    monkeypatch.delenv("IDSYNC_TEST_SECRET")
    with pytest.raises(
        BadInput, match="dir: password: environment variable IDSYNC_TEST_SECRET is not set"
    ):
        resolve_secret(SecretRef(env="IDSYNC_TEST_SECRET"), "dir: password")
    with pytest.raises(BadInput, match=r"pw: file .*/missing does not exist"):
        resolve_secret(SecretRef(file=str(tmp_path / "missing")), "pw")
    with pytest.raises(BadInput, match="expected exactly one of"):
        resolve_secret(SecretRef(), "pw")
