"""SIDs as Active Directory holds them: the text people know ("S-1-5-21-…") and the binary
form written to msExchMasterAccountSid, which Exchange's schema alone has."""

from __future__ import annotations

from collections.abc import Callable

import ldap3.protocol.formatters.formatters as ldap3_formatters
import pytest

from schemas.values import Binary, Record
from services.providers.ad.values import schema_has, shape_read, sid_bytes, sid_text, with_schema

format_sid: Callable[[bytes], str] = ldap3_formatters.format_sid  # untyped in its stubs

# A domain account's SID, byte by byte: revision 1, 5 sub-authorities, authority 5
# (NT AUTHORITY, big-endian), then 21, 1004336348, 1177238915, 682003330, 1104 (each
# little-endian).
DOMAIN_USER = "S-1-5-21-1004336348-1177238915-682003330-1104"
DOMAIN_USER_BYTES = bytes.fromhex("010500000000000515000000dcf4dc3b833d2b46828ba62850040000")


def test_a_sid_is_written_as_windows_stores_it() -> None:
    assert sid_bytes(DOMAIN_USER) == DOMAIN_USER_BYTES
    assert sid_text(DOMAIN_USER_BYTES) == DOMAIN_USER
    assert format_sid(DOMAIN_USER_BYTES) == DOMAIN_USER


@pytest.mark.parametrize(
    "text",
    [
        "S-1-0-0",  # Nobody: one sub-authority
        "S-1-1-0",  # Everyone
        "S-1-5-32-544",  # BUILTIN\Administrators
        "S-1-5-21-4294967295-1-2-3-500",  # the largest sub-authority
        "S-1-5",  # no sub-authority at all
    ],
)
def test_text_and_binary_sids_round_trip(text: str) -> None:
    raw = sid_bytes(text)
    assert raw is not None and len(raw) == 8 + 4 * (len(text.split("-")) - 3)
    assert sid_text(raw) == text
    assert format_sid(raw) == text  # as another reader of SIDs (ldap3's) reads it


def test_an_authority_above_32_bits_may_be_written_in_hex() -> None:
    raw = sid_bytes("S-1-0xFFFFFFFFFFFF-1")  # as Windows writes it
    assert raw == sid_bytes("S-1-281474976710655-1") == bytes.fromhex("0101ffffffffffff01000000")
    assert format_sid(raw) == "S-1-0xffffffffffff-1"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "S-1",
        "1-5-21",
        "S-2-5-21",  # revision 1 only
        "S-1-5-21-4294967296",  # a sub-authority above 32 bits
        "S-1-281474976710656-1",  # an authority above 48 bits
        "S-1-0x1000000000000-1",
        "S-1-0x-1",
        "S-1-5-" + "-".join(["1"] * 16),  # at most 15 sub-authorities
        "S-1-5-x",
        "S-1-5--1",
    ],
)
def test_what_is_no_sid_has_no_binary_form(text: str) -> None:
    assert sid_bytes(text) is None


def test_a_lower_case_or_spaced_sid_is_read() -> None:
    assert sid_bytes(f" {DOMAIN_USER.lower()} ") == DOMAIN_USER_BYTES


def test_the_master_account_sid_is_written_binary_where_the_schema_has_it() -> None:
    values: Record = {"msExchMasterAccountSid": DOMAIN_USER, "info": DOMAIN_USER, "mail": "a@b"}
    exchange = with_schema(values, frozenset({"msexchmasteraccountsid"}))
    assert exchange == {
        "msExchMasterAccountSid": Binary(DOMAIN_USER_BYTES),
        "info": DOMAIN_USER,  # any other attribute as it was
        "mail": "a@b",
    }
    assert with_schema(values, frozenset()) == {"info": DOMAIN_USER, "mail": "a@b"}


def test_a_master_account_sid_read_back_compares_as_its_text() -> None:
    record: Record = {"msExchMasterAccountSid": Binary(DOMAIN_USER_BYTES), "photo": Binary(b"\x01")}
    shape_read(record)
    assert record == {"msExchMasterAccountSid": DOMAIN_USER, "photo": Binary(b"\x01")}


def test_exchanges_attribute_is_found_in_a_schema_that_has_it() -> None:
    exchange = {"cn": object(), "msExchMasterAccountSid": object(), "mail": object()}
    assert schema_has(exchange) == frozenset({"msexchmasteraccountsid"})
    assert schema_has({"cn": object(), "mail": object()}) == frozenset()
    assert schema_has(None) == frozenset() and schema_has({}) == frozenset()
