"""An LDAP read that cannot see all of its scope fails: a search that meets a referral
(a part of the tree another server holds), naming the referral — skipping it would take
every entry under it for absent, and a run would delete or disable them —, and a server
that goes away mid-read."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import BadInput, Transient
from tests.ldap_server import Slapd

from .ldap_helpers import USER, CuttableProxy, admin, connection, create, provider, read_all

ELSEWHERE = "ldap://ldap.elsewhere.example"


def refer(server: Slapd, base: str) -> str:
    """`ou=contractors` below `base`, made a referral to another server; its URL."""
    url = f"{ELSEWHERE}/ou=contractors,{base}"
    with admin(server) as conn:
        added = conn.add(
            f"ou=contractors,{base}",
            ["referral", "extensibleObject"],
            {"ou": "contractors", "ref": url},
        )
        assert added, conn.result
    return url


@pytest.mark.parametrize("write", [False, True], ids=["source", "destination"])
async def test_a_referral_in_the_scope_fails_the_read_naming_it(
    slapd: Slapd, ldap_base: str, tmp_path: Path, write: bool
) -> None:
    conn = connection(tmp_path, slapd.url)
    writer = await provider(conn, ldap_base, USER)
    await writer.apply([create(f"u{i}", cn="C", sn="S") for i in range(3)])
    url = refer(slapd, ldap_base)
    side = await provider(conn, ldap_base, USER, write=write, include_subcontainers=True)
    with pytest.raises(BadInput, match=f"referral to {url}"):
        await read_all(side)


async def test_a_lookup_by_key_that_meets_a_referral_fails(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    conn = connection(tmp_path, slapd.url)
    writer = await provider(conn, ldap_base, USER)
    await writer.apply([create(f"u{i}", cn="C", sn="S") for i in range(3)])
    url = refer(slapd, ldap_base)
    side = await provider(conn, ldap_base, USER, write=False, include_subcontainers=True)
    with pytest.raises(BadInput, match=f"referral to {url}"):
        async for _ in side.read_keys("uid", ["u1", "c1"], 100):  # type: ignore[attr-defined]
            pass


@pytest.mark.parametrize("write", [False, True], ids=["source", "destination"])
async def test_a_server_that_goes_away_mid_read_fails_the_read(
    slapd: Slapd, ldap_base: str, tmp_path: Path, write: bool
) -> None:
    writer = await provider(connection(tmp_path, slapd.url), ldap_base, USER)
    await writer.apply([create(f"u{i:02d}", cn="C", sn="S") for i in range(40)])
    proxy = CuttableProxy(slapd.port)
    try:
        conn = connection(tmp_path, proxy.url, page_size=5)
        side = await provider(conn, ldap_base, USER, write=write)
        read = 0
        with pytest.raises(Transient, match=r"while searching"):
            async for batch in side.read(5):
                if read == 0:
                    proxy.close()
                read += len(batch)
        assert read < 40
    finally:
        proxy.close()
