"""The portal's sign-ins on a controlled clock: sessions lapse unused, failed sign-ins
are limited per name and per address; connections never show a secret."""

from __future__ import annotations

import json

from schemas.connections import LdapConnection, SecretRef
from services.portal.signin import PER_ADDRESS, PER_NAME, WINDOW, Sessions, Throttle
from services.portal.views import connection_view


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_lapses_after_its_minutes_without_use_and_use_renews_it() -> None:
    clock = Clock()
    sessions = Sessions(minutes=10, clock=clock)
    session_id, signed = sessions.open("ada", "local")
    assert signed.csrf and signed.csrf != session_id
    clock.now += 9 * 60
    assert sessions.find(session_id) is not None, "used within its minutes"
    clock.now += 9 * 60
    assert sessions.find(session_id) is not None, "each use renews it"
    clock.now += 10 * 60 + 1
    assert sessions.find(session_id) is None, "unused for longer: gone"
    assert sessions.find("made-up") is None


def test_signing_out_ends_the_session() -> None:
    sessions = Sessions(minutes=10, clock=Clock())
    session_id, _ = sessions.open("ada", "local")
    sessions.close(session_id)
    assert sessions.find(session_id) is None


def test_failed_sign_ins_for_a_name_wait_out_the_window() -> None:
    clock = Clock()
    throttle = Throttle(clock)
    for _ in range(PER_NAME):
        assert throttle.wait("ada", "10.0.0.1") == 0
        throttle.failed("ada", "10.0.0.1")
        clock.now += 1
    assert throttle.wait("ada", "10.0.0.1") > 0
    assert throttle.wait("ada", "10.0.0.2") > 0, "the name is limited from anywhere"
    assert throttle.wait("bob", "10.0.0.1") == 0, "others from the address are not (yet)"
    clock.now += WINDOW
    assert throttle.wait("ada", "10.0.0.1") == 0


def test_failed_sign_ins_from_an_address_are_limited_whatever_the_names() -> None:
    clock = Clock()
    throttle = Throttle(clock)
    for n in range(PER_ADDRESS):
        throttle.failed(f"user{n}", "10.0.0.9")
    assert throttle.wait("someone-else", "10.0.0.9") > 0
    assert throttle.wait("someone-else", "10.0.0.8") == 0


def test_a_connection_shows_where_its_secret_is_never_what() -> None:
    connection = LdapConnection(
        id="corp",
        urls=["ldaps://dc.example.org"],
        bind_dn="cn=sync,dc=example,dc=org",
        password=SecretRef(env="CORP_LDAP_PASSWORD"),
    )
    shown = connection_view(connection)
    assert shown["password"] == "set"
    assert "CORP_LDAP_PASSWORD" not in json.dumps(shown)
    assert shown["bind_dn"] == "cn=sync,dc=example,dc=org"
