"""The LDAP provider against a real slapd: what the contract suite cannot say."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.errors import BadInput, Transient, Unreachable
from schemas.connections import SecretRef
from schemas.plan import Change
from schemas.values import Binary
from services.providers.base import Layout
from tests.ldap_server import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    LIMITED_DN,
    LIMITED_PASSWORD,
    Slapd,
    free_port,
)

from .ldap_helpers import (
    USER,
    CuttableProxy,
    add_ou,
    connection,
    create,
    entries,
    provider,
    read_all,
)

INJECTIONS = ["*)(uid=*", "\\", "a\x00b", ',+"<>;=#', "  spaced  ", "*", "x)(|(uid=*)", "#hash"]


async def test_injection_strings_are_stored_literally_and_match_only_their_own_entry(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    conn = connection(tmp_path, slapd.url)
    fields = ("cn", "sn", "description", "title")
    changes = [create(bad, **dict.fromkeys(fields, bad)) for bad in [*INJECTIONS, "innocent"]]
    first = await provider(conn, ldap_base, USER)
    assert [o.error for o in await first.apply(changes)] == [None] * len(changes)

    stored = {str(r["uid"]): r for r in await read_all(await provider(conn, ldap_base, USER))}
    assert set(stored) == {*INJECTIONS, "innocent"}
    for bad in INJECTIONS:
        assert [stored[bad][f] for f in fields] == [bad] * 4, bad

    # A provider that has not read finds each entry by a filter built from the key.
    fresh = await provider(conn, ldap_base, USER)
    updates = [
        Change(action="update", key=bad, match={"uid": bad}, set={"title": f"changed {i}"})
        for i, bad in enumerate(INJECTIONS)
    ]
    assert [o.error for o in await fresh.apply(updates)] == [None] * len(INJECTIONS)
    titles = {str(r["uid"]): r["title"] for r in await read_all(fresh)}
    assert titles == {
        **{bad: f"changed {i}" for i, bad in enumerate(INJECTIONS)},
        "innocent": "innocent",
    }

    deleting = await provider(conn, ldap_base, USER)
    deletes = [Change(action="delete", key=b, match={"uid": b}) for b in INJECTIONS]
    assert [o.error for o in await deleting.apply(deletes)] == [None] * len(INJECTIONS)
    assert [r["uid"] for r in await read_all(deleting)] == ["innocent"]


async def test_binary_attributes_round_trip(slapd: Slapd, ldap_base: str, tmp_path: Path) -> None:
    photo = bytes(range(256)) * 40
    conn = connection(tmp_path, slapd.url)
    side = await provider(conn, ldap_base, USER)
    # A file holds the photo as base64 text: the destination's canonical form is the bytes.
    from_file = side.canonical({"uid": "u2", "jpegPhoto": "AAEC/w=="})
    assert from_file == {"uid": "u2", "jpegPhoto": Binary(b"\x00\x01\x02\xff")}

    changes = [create("u1", cn="A", sn="A", jpegPhoto=Binary(photo)), create("u2", cn="B", sn="B")]
    changes[1] = Change(
        action="create", key="u2", match={"uid": "u2"}, set={**changes[1].set, **from_file}
    )
    assert [o.error for o in await side.apply(changes)] == [None, None]

    read = {r["uid"]: r for r in await read_all(await provider(conn, ldap_base, USER, write=False))}
    assert read["u1"]["jpegPhoto"] == Binary(photo)
    assert read["u2"]["jpegPhoto"] == Binary(b"\x00\x01\x02\xff")
    assert read["u1"]["dn"] == f"uid=u1,{ldap_base}"  # a source's records carry their DN


async def test_a_read_larger_than_a_page_streams_every_entry(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    conn = connection(tmp_path, slapd.url, page_size=7)
    side = await provider(conn, ldap_base, USER)
    await side.apply([create(f"u{i:02d}", cn=f"User {i}", sn="S") for i in range(30)])

    batches = [batch async for batch in side.read(4)]

    assert all(0 < len(batch) <= 4 for batch in batches)
    uids = sorted((r["uid"] for b in batches for r in b), key=str)
    assert uids == [f"u{i:02d}" for i in range(30)]


async def test_a_search_the_server_cuts_short_is_an_error_not_a_short_read(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    writer = await provider(connection(tmp_path, slapd.url), ldap_base, USER)
    await writer.apply([create(f"u{i:02d}", cn="C", sn="S") for i in range(25)])
    secret = tmp_path / "limited"
    secret.write_text(LIMITED_PASSWORD)
    side = await provider(
        connection(tmp_path, slapd.url, bind_dn=LIMITED_DN, password=_file_ref(secret)),
        ldap_base,
        USER,
        write=False,
    )
    with pytest.raises(BadInput, match=f"cut the search of {ldap_base} short.*{LIMITED_DN}"):
        await read_all(side)


def _file_ref(path: Path) -> SecretRef:
    return SecretRef(file=str(path))


async def test_a_missing_parent_is_that_change_error(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    side = await provider(connection(tmp_path, slapd.url), ldap_base, USER)
    nowhere = f"ou=Nowhere,{ldap_base}"
    lost = Change(
        action="create",
        key="u1",
        match={"uid": "u1"},
        set={"uid": "u1", "cn": "A", "sn": "A"},
        container=nowhere,
    )

    outcomes = await side.apply([lost, create("u2", cn="B", sn="B")])

    assert (
        outcomes[0].error
        == f"parent {nowhere} does not exist; create it first or fix the container"
    )
    assert outcomes[1].error is None


async def test_moves_go_to_the_new_container_once(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    add_ou(slapd, f"ou=People,{ldap_base}")
    add_ou(slapd, f"ou=Former,{ldap_base}")
    side = await provider(connection(tmp_path, slapd.url), f"ou=People,{ldap_base}", USER)
    await side.apply([create("u1", cn="A", sn="A"), create("u2", cn="B", sn="B")])
    former = f"ou=Former,{ldap_base}"
    move = Change(action="move", key="u1", match={"uid": "u1"}, container=former)

    assert [o.error for o in await side.apply([move])] == [None]
    assert [o.error for o in await side.apply([move])] == [None]  # already there: nothing to do

    assert set(entries(slapd, ldap_base)) == {f"uid=u1,{former}", f"uid=u2,ou=People,{ldap_base}"}
    assert [r["uid"] for r in await read_all(side)] == ["u2"]


async def test_a_new_value_of_the_naming_attribute_renames_the_entry(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    conn = connection(tmp_path, slapd.url)
    side = await provider(conn, ldap_base, USER, rdn_attribute="cn")
    await side.apply([create("jdoe", cn="John Doe", sn="Doe")])
    await read_all(side)

    rename = Change(
        action="update", key="jdoe", match={"uid": "jdoe"}, set={"cn": "John Q. Doe", "sn": "Q"}
    )
    assert [o.error for o in await side.apply([rename])] == [None]

    (dn,) = entries(slapd, ldap_base)
    assert dn == f"cn=John Q. Doe,{ldap_base}"
    assert entries(slapd, ldap_base)[dn]["sn"] == [b"Q"]


async def test_disable_is_refused_with_what_to_do_instead(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    side = await provider(connection(tmp_path, slapd.url), ldap_base, USER)
    (outcome,) = await side.apply([Change(action="disable", key="u1", match={"uid": "u1"})])
    assert outcome.error is not None and "use delete, move or skip" in outcome.error


async def test_a_wrong_password_names_the_bind_dn_never_the_password(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    secret = tmp_path / "wrong"
    secret.write_text("not-the-password")
    conn = connection(tmp_path, slapd.url, password=_file_ref(secret))
    with pytest.raises(BadInput) as caught:
        await provider(conn, ldap_base, USER)
    assert ADMIN_DN in str(caught.value) and "invalid credentials" in str(caught.value)
    assert "not-the-password" not in str(caught.value) and ADMIN_PASSWORD not in str(caught.value)


async def test_the_next_url_is_tried_when_one_does_not_answer(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    dead = f"ldap://127.0.0.1:{free_port()}"
    side = await provider(connection(tmp_path, dead, slapd.url), ldap_base, USER)
    assert await read_all(side) == []
    with pytest.raises(Unreachable, match=f"no server answered \\({dead}"):
        await provider(connection(tmp_path, dead), ldap_base, USER)


async def test_a_base_dn_that_does_not_exist(slapd: Slapd, ldap_base: str, tmp_path: Path) -> None:
    conn, missing = connection(tmp_path, slapd.url), f"ou=missing,{ldap_base}"
    assert await read_all(await provider(conn, missing, USER)) == []  # a destination: empty
    with pytest.raises(BadInput, match=f"the base DN {missing} does not exist"):
        await read_all(await provider(conn, missing, USER, write=False))


async def test_a_dropped_connection_mid_batch_is_resumed_on_a_fresh_one(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    proxy = CuttableProxy(slapd.port)
    try:
        side = await provider(connection(tmp_path, proxy.url, pool_size=2), ldap_base, USER)
        changes = [create(f"u{i:04d}", cn=f"User {i}", sn="S") for i in range(3000)]
        applying = asyncio.create_task(side.apply(changes))
        for _ in range(500):  # until some are written: the cut must fall mid-batch
            if len(entries(slapd, ldap_base)) >= 300:
                break
            await asyncio.sleep(0.02)
        assert not applying.done()
        opened = proxy.accepted
        proxy.cut()
        outcomes = await applying
        assert proxy.accepted > opened, "the provider connected again"
        assert [o.error for o in outcomes] == [None] * 3000
        assert len(entries(slapd, ldap_base)) == 3000

        proxy.close()  # now the server is gone for good
        with pytest.raises(Transient):
            await side.apply([create("late", cn="L", sn="L")])
    finally:
        proxy.close()


async def test_objects_of_other_classes_are_out_of_scope(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    add_ou(slapd, f"ou=People,{ldap_base}")
    conn = connection(tmp_path, slapd.url)
    layout = Layout(keys=("uid",))
    side = await provider(conn, ldap_base, layout, object_classes=["inetOrgPerson"])
    await side.apply([create("u1", cn="A", sn="A")])
    assert [r["uid"] for r in await read_all(side)] == ["u1"]  # not the organizational unit
    one_level = await provider(
        conn, ldap_base, layout, include_subcontainers=False, query="(uid=u1)"
    )
    assert [r["uid"] for r in await read_all(one_level)] == ["u1"]
