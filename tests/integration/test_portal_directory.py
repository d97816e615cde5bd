"""Signing in to the portal against a directory connection: a bind as the person on the
tests' own slapd; what they then ask for goes out in their name."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from schemas.connections import LdapConnection
from services.common.settings import Settings
from tests.ldap_server import Slapd

from .conftest import JOB_ID, Files
from .portal import portal_running, portal_url
from .secured import Running, apply_as, person

PASSWORD = "erin's own pw"


@pytest.fixture
def secure(secure: Settings, slapd: Slapd, ldap_base: str) -> Settings:
    for name in ("erin", "bob"):  # bob is also a user of the server, with his own password
        slapd.ldapadd(
            f"dn: cn={name},{ldap_base}\nobjectClass: person\n"
            f"objectClass: simpleSecurityObject\ncn: {name}\nsn: {name}\n"
            f"userPassword: {PASSWORD}\n"
        )
    return msgspec.structs.replace(
        secure, portal_port=0, portal_ldap="corp", portal_ldap_user=f"cn={{user}},{ldap_base}"
    )


async def test_a_person_of_the_directory_signs_in_by_binding_as_themselves(
    files: Files, secure: Settings, secured_services: Running, slapd: Slapd
) -> None:
    files.write(count=3)
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice:
            await alice.apply_connections([LdapConnection(id="corp", urls=[slapd.url])])
            await apply_as(alice, files)
        async with httpx.AsyncClient(base_url=portal_url(secure)) as client:
            wrong = await client.post("/api/signin", json={"user": "erin", "password": "nope"})
            assert wrong.status_code == 401
            nobody = await client.post("/api/signin", json={"user": "frank", "password": "x"})
            assert nobody.status_code == 401, "no such entry: no bind"
            bob = await client.post("/api/signin", json={"user": "bob", "password": PASSWORD})
            assert bob.status_code == 401, "a user of the server signs in with their own password"
            signed = await client.post("/api/signin", json={"user": "Erin", "password": PASSWORD})
            assert signed.status_code == 200, signed.text
            csrf = signed.json()["csrf"]
            me = (await client.get("/api/me")).json()
            assert me == {"principal": "erin", "via": "directory", "csrf": csrf}
            asked = await client.post(
                "/api/runs", json={"job": JOB_ID}, headers={"x-csrf-token": csrf}
            )
            assert asked.status_code == 202, asked.text
            run = await client.get(f"/api/runs/{asked.json()['run_id']}")
            assert run.json()["requested_by"] == "erin"
