"""The Active Directory provider on a real Samba AD DC (tests/ad_server.py): passwords and
userAccountControl, a password the domain refuses, disable-and-move, names taken, an add
whose answer a broken connection lost, injection strings, objectGUID keys, uSNChanged
reads, ranged values."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import ldap3
import pytest

from core.errors import BadInput, Transient
from schemas.connections import ActiveDirectoryConnection, SecretRef
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Value
from services.providers import open_provider
from services.providers.ad.provider import AdProvider
from services.providers.ad.values import merge_ranges, unfinished
from services.providers.base import Layout, Provider
from services.providers.ldap.values import holds_key
from tests.ad_server import ADMIN, ADMIN_PASSWORD, SESSION, URL, Samba, sam
from tests.cut_proxy import CutProxy

USERS = Layout(keys=("sAMAccountName",), fields=("sAMAccountName", "cn", "givenName", "sn"))
STRONG = "Tr0ub4dor&3-horse"


def ad_connection(tmp_path: Path, **fields: object) -> ActiveDirectoryConnection:
    secret = tmp_path / "ad-password"
    secret.write_text(ADMIN_PASSWORD)
    values: dict[str, object] = {
        "id": "ad",
        "urls": [URL],
        "bind_dn": ADMIN,
        "password": SecretRef(file=str(secret)),
        "verify": False,
        **fields,
    }
    return ActiveDirectoryConnection(**values)  # type: ignore[arg-type]


async def ad(tmp_path: Path, base: str, layout: Layout = USERS, **endpoint: Any) -> Provider:
    """An AD provider on `base`; `endpoint` holds the endpoint's other fields."""
    side = open_provider(
        ad_connection(tmp_path), Endpoint(connection="ad", container=base, **endpoint), layout
    )
    await side.open(write=True)
    return side


def user(login: str, password: str | None = STRONG, **fields: Value) -> Change:
    values: dict[str, Value] = {"sAMAccountName": sam(login), "cn": f"{login} person", **fields}
    if password is not None:
        values["unicodePwd"] = password
    return Change(action="create", key=login, match={"sAMAccountName": sam(login)}, set=values)


def attributes(
    samba: Samba, base: str, flt: str = "(objectClass=user)"
) -> dict[str, dict[str, Any]]:
    """sAMAccountName (or cn) → attributes of the objects below `base`."""
    with samba.connection() as conn:
        conn.search(base, flt, attributes=["*", "userAccountControl", "objectGUID"])
        assert conn.response is not None, conn.result
        return {
            str(e["attributes"].get("sAMAccountName") or e["attributes"]["cn"]).removeprefix(
                SESSION
            ): dict(e["attributes"], dn=e["dn"])
            for e in conn.response
        }


async def test_users_get_their_password_and_are_enabled_and_a_weak_password_fails_alone(
    samba: Samba, ad_base: str, tmp_path: Path
) -> None:
    side = await ad(tmp_path, ad_base)
    changes = [user("ann"), user("weak", password="abc"), user("bo"), user("nopw", None)]

    outcomes = [o.error for o in await side.apply(changes)]

    assert outcomes[0] is None and outcomes[2] is None and outcomes[3] is None
    assert outcomes[1] is not None
    assert "cn=weak person" in outcomes[1] and "password policy" in outcomes[1]
    assert "too short" in outcomes[1] and "not created" in outcomes[1]
    found = attributes(samba, ad_base)
    assert set(found) == {"ann", "bo", "nopw"}  # the refused account was taken back
    assert found["ann"]["userAccountControl"] == 512  # enabled, a password required
    assert found["nopw"]["userAccountControl"] == 546  # no password: still disabled
    # The password works: the user binds with it.
    tls = ldap3.Tls(validate=0)
    server = ldap3.Server(URL, use_ssl=True, tls=tls)
    assert ldap3.Connection(server, f"{sam('ann')}@EXAMPLE.TEST", STRONG).bind()
    await side.close()


async def test_disable_and_enable_keep_other_bits_disable_moves_when_asked_not_contacts(
    samba: Samba, ad_base: str, tmp_path: Path
) -> None:
    side = await ad(tmp_path, ad_base)
    assert [o.error for o in await side.apply([user("ann"), user("bo")])] == [None, None]
    with samba.connection() as conn:  # password never expires: a bit a sync must keep
        dn = f"CN=ann person,{ad_base}"
        conn.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [512 | 0x10000])]})
    former = f"OU=Disabled,{ad_base}"
    samba.add_ou(former)
    contacts = await ad(tmp_path, ad_base, Layout(keys=("cn",)), object_classes=["contact"])
    await contacts.apply(
        [Change(action="create", key="c", match={"cn": "c"}, object_type="contact")]
    )

    fresh = await ad(tmp_path, ad_base)  # finds them by key, as a new run's runner would
    outcomes = await fresh.apply(
        [
            Change(action="disable", key="ann", match={"sAMAccountName": sam("ann")}),
            Change(
                action="disable", key="bo", match={"sAMAccountName": sam("bo")}, container=former
            ),
            Change(action="disable", key="nobody", match={"sAMAccountName": sam("nobody")}),
        ]
    )
    refused = await contacts.apply([Change(action="disable", key="c", match={"cn": "c"})])

    assert [o.error for o in outcomes[:2]] == [None, None]
    assert "no entry with key 'nobody'" in str(outcomes[2].error)
    assert "only user accounts can be disabled" in str(refused[0].error)
    found = attributes(samba, ad_base)
    assert found["ann"]["userAccountControl"] == 512 | 0x10000 | 0x2
    assert found["bo"]["userAccountControl"] == 514
    assert found["bo"]["dn"].lower() == f"cn=bo person,{former}".lower()

    # Restored (the job's `restore`): enabled again, the other bits still kept.
    again = await fresh.apply(
        [Change(action="enable", key="ann", match={"sAMAccountName": sam("ann")})]
    )
    assert again[0].error is None
    assert attributes(samba, ad_base)["ann"]["userAccountControl"] == 512 | 0x10000
    for provider in (side, contacts, fresh):
        await provider.close()


async def test_an_account_that_never_had_a_password_is_not_enabled_by_a_restore(
    samba: Samba, ad_base: str, tmp_path: Path
) -> None:
    # A job that sets no password makes accounts disabled, needing none (AD's 546). One
    # that leaves and comes back is restored as it was: enabling it would make an account
    # whose password is empty usable by whoever knows its name.
    side = await ad(tmp_path, ad_base)
    assert [o.error for o in await side.apply([user("cy", password=None)])] == [None]
    assert attributes(samba, ad_base)["cy"]["userAccountControl"] == 546

    fresh = await ad(tmp_path, ad_base)
    cy: dict[str, Value] = {"sAMAccountName": sam("cy")}
    left = await fresh.apply([Change(action="disable", key="cy", match=cy)])
    back = await (await ad(tmp_path, ad_base)).apply([Change(action="enable", key="cy", match=cy)])

    assert [o.error for o in left + back] == [None, None]
    assert attributes(samba, ad_base)["cy"]["userAccountControl"] == 546
    await side.close()
    await fresh.close()


async def test_names_and_account_names_taken_are_plain_errors_naming_the_object(
    samba: Samba, ad_base: str, tmp_path: Path
) -> None:
    side = await ad(tmp_path, ad_base)
    await side.apply([user("ann")])
    with samba.connection() as conn:  # someone else's account, as an unfinished create leaves it
        conn.add(f"CN=dee person,{ad_base}", ["user"], {"sAMAccountName": sam("other")})
    before = attributes(samba, ad_base)

    outcomes = await side.apply(
        [
            user("ann2", cn="ann person"),
            user("ann", cn="someone else"),
            user("cy"),
            user("dee"),
        ]
    )

    assert f"create cn=ann person,{ad_base}: another object already has this name" in str(
        outcomes[0].error
    )
    assert outcomes[1].error is None  # the key exists: it is the same user, updated
    assert outcomes[2].error is None
    assert f"create cn=dee person,{ad_base}: another object already has this name" in str(
        outcomes[3].error
    )
    after = attributes(samba, ad_base)
    assert after["other"]["userAccountControl"] == 546  # not given a password, not enabled
    assert after["other"]["uSNChanged"] == before["other"]["uSNChanged"]  # not written at all
    assert "dee" not in after
    await side.close()


def exists(samba: Samba, base: str, login: str) -> bool:
    with samba.connection() as conn:
        conn.search(base, f"(sAMAccountName={sam(login)})", attributes=["cn"])
        return bool(conn.entries)


async def test_an_add_whose_answer_a_broken_connection_lost_is_finished_not_a_name_taken(
    samba: Samba, ad_base: str, tmp_path: Path
) -> None:
    """The DC adds the accounts, the connection breaks before their answers arrive: the
    adds sent again on a new connection find the accounts there, recognise them as
    their own and go on with the password and the enable."""
    with CutProxy(636) as proxy:
        connection = ad_connection(tmp_path, urls=[f"ldaps://127.0.0.1:{proxy.port}"], pool_size=1)
        side = open_provider(connection, Endpoint(connection="ad", container=ad_base), USERS)
        await side.open(write=True)
        proxy.cut_when(lambda: exists(samba, ad_base, "ann"))

        outcomes = await side.apply([user("ann"), user("bo")])
        await side.close()

    assert proxy.cuts == 1
    assert [o.error for o in outcomes] == [None, None]  # created, no name taken
    found = attributes(samba, ad_base)
    assert {name: a["userAccountControl"] for name, a in found.items()} == {"ann": 512, "bo": 512}
    server = ldap3.Server(URL, use_ssl=True, tls=ldap3.Tls(validate=0))
    for name in ("ann", "bo"):
        assert ldap3.Connection(server, f"{sam(name)}@EXAMPLE.TEST", STRONG).bind()


INJECTIONS = ["*)(cn=*", "\\", ',+"<>;=#', "  spaced", "*", "x)(|(cn=*)", "#hash", "Smith, Jr."]


async def test_injection_strings_are_stored_literally_and_match_only_their_own_object(
    samba: Samba, ad_base: str, tmp_path: Path
) -> None:
    layout = Layout(keys=("employeeID",), fields=("employeeID", "cn", "description"))
    side = await ad(tmp_path, ad_base, layout, object_classes=["contact"])
    names = [*INJECTIONS, "innocent"]
    changes = [
        Change(
            action="create",
            key=bad,
            match={"employeeID": bad},
            set={"employeeID": bad, "cn": bad, "description": bad},
            object_type="contact",
        )
        for bad in names
    ]
    assert [o.error for o in await side.apply(changes)] == [None] * len(names)

    fresh = await ad(tmp_path, ad_base, layout, object_classes=["contact"])
    updates = [
        Change(action="update", key=b, match={"employeeID": b}, set={"description": f"d{i}"})
        for i, b in enumerate(INJECTIONS)
    ]
    assert [o.error for o in await fresh.apply(updates)] == [None] * len(INJECTIONS)

    found = attributes(samba, ad_base, "(objectClass=contact)")
    assert {str(a["employeeID"]): a["description"] for a in found.values()} == {
        **{bad: [f"d{i}"] for i, bad in enumerate(INJECTIONS)},
        "innocent": ["innocent"],
    }
    await side.close()
    await fresh.close()


async def test_guids_read_as_text_and_usn_reads_return_only_what_changed(
    samba: Samba, ad_base: str, tmp_path: Path
) -> None:
    side = await ad(tmp_path, ad_base)
    await side.apply([user("ann"), user("bo"), user("cy")])
    layout = Layout(keys=("objectGUID",), fields=("objectGUID", "objectSid", "sAMAccountName"))
    source = open_provider(
        ad_connection(tmp_path), Endpoint(connection="ad", container=ad_base), layout
    )
    await source.open(write=False)
    assert isinstance(source, AdProvider)

    everyone = [r async for batch in source.read_changed(100, None, None) for r in batch]
    mark = source.watermark()
    found = attributes(samba, ad_base)
    assert {str(r["objectGUID"]) for r in everyone} == {
        str(a["objectGUID"]).strip("{}") for a in found.values()
    }
    assert all(str(r["objectSid"]).startswith("S-1-5-21-") for r in everyone)
    assert source.canonical({"objectGUID": str(everyone[0]["objectGUID"]).upper()}) == {
        "objectGUID": everyone[0]["objectGUID"]
    }

    await side.apply(
        [Change(action="update", key="bo", match={"sAMAccountName": sam("bo")}, set={"sn": "B"})]
    )
    changed = [r async for batch in source.read_changed(100, mark, None) for r in batch]
    assert [r["sAMAccountName"] for r in changed] == [sam("bo")]
    other_dc = f"{uuid.uuid4()}:{str(mark).rpartition(':')[2]}"
    again = [r async for batch in source.read_changed(100, other_dc, None) for r in batch]
    assert len(again) == 3  # another DC's USNs mean nothing here: everything is read
    with pytest.raises(BadInput, match="uSNChanged"):
        source.read_changed(100, None, "whenChanged")
    await source.close()
    await side.close()


async def test_values_sent_in_ranges_are_completed_from_the_dc(
    samba: Samba, ad_base: str, tmp_path: Path
) -> None:
    """A DC past its MaxValRange sends `member;range=0-1499`; Samba sends every value
    unless asked for a range, so the first part is asked for here, the rest by the provider."""
    members = [f"CN=m{i},{ad_base}" for i in range(5)]
    with samba.connection() as conn:
        for dn in members:
            conn.add(dn, ["contact"])
        group = f"CN=big,{ad_base}"
        assert conn.add(group, ["group"], {"member": members}), conn.result
    side = await ad(tmp_path, ad_base, Layout(keys=("cn",)), object_classes=["group"])
    assert isinstance(side, AdProvider)
    asked = [b"cn", b"member;range=0-1"]
    first_part = await asyncio.to_thread(side._base_search, group.encode(), asked)
    assert [len(values) for _, values in first_part] == [1, 2]

    record = await asyncio.to_thread(side._entry, (group.encode(), first_part))

    found = record["member"]
    assert isinstance(found, list), found
    assert sorted(m.lower() for m in found) == sorted(m.lower() for m in members)
    await side.close()


def small_ranges(side: AdProvider, then: Any = None) -> list[bytes]:
    """The side's DC made to send at most 2 values a part, as AD past its MaxValRange
    (Samba sends every value left when asked `range=N-*`); `then(n)` runs after its n-th
    base search. Gives the ranges asked, in order."""
    search = side._base_search
    asked: list[bytes] = []

    def base_search(dn: bytes, attributes: list[bytes]) -> list[tuple[bytes, list[bytes]]]:
        narrowed = []
        for name in attributes:
            head, _, rest = name.partition(b";range=")
            if rest.endswith(b"-*"):
                start = int(rest[:-2])
                name = head + b";range=%d-%d" % (start, start + 1)
                asked.append(name)
            narrowed.append(name)
        found = search(dn, narrowed)
        if then is not None:
            then(len(asked))
        return found

    side._base_search = base_search  # type: ignore[method-assign]
    return asked


@pytest.mark.parametrize("removed_after", [0, 1], ids=["after-the-page", "between-parts"])
async def test_a_member_removed_while_its_group_is_read_in_parts_is_no_other_left_out(
    samba: Samba, ad_base: str, tmp_path: Path, removed_after: int
) -> None:
    # A value removed while the parts are read moves those after it back a place: the
    # next part would start past one of them, a member left out of the group read (and
    # removed from the group it is copied to). The parts are read again from the first.
    members = [f"CN=m{i},{ad_base}" for i in range(6)]
    with samba.connection() as conn:
        for dn in members:
            conn.add(dn, ["contact"])
        group = f"CN=big,{ad_base}"
        assert conn.add(group, ["group"], {"member": members}), conn.result
    side = await ad(tmp_path, ad_base, Layout(keys=("cn",)), object_classes=["group"])
    assert isinstance(side, AdProvider)
    page = [b"cn", b"member;range=0-1"]
    first_part = await asyncio.to_thread(side._base_search, group.encode(), page)
    gone = first_part[1][1][0].decode()  # a member the first part holds

    def remove(searches: int) -> None:
        if searches == removed_after:
            with samba.connection() as conn:
                assert conn.modify(group, {"member": [(ldap3.MODIFY_DELETE, [gone])]})

    asked = small_ranges(side, remove)
    remove(0)
    record = await asyncio.to_thread(side._entry, (group.encode(), first_part))

    found = record["member"]
    assert isinstance(found, list), found
    now = [m for m in members if m.lower() != gone.lower()]
    assert sorted(m.lower() for m in found) == sorted(m.lower() for m in now)
    assert len(asked) > 2  # read in parts
    await side.close()


async def test_a_group_that_changes_on_every_read_in_parts_fails_the_read(
    samba: Samba, ad_base: str, tmp_path: Path
) -> None:
    members = [f"CN=n{i},{ad_base}" for i in range(6)]
    with samba.connection() as conn:
        for dn in members:
            conn.add(dn, ["contact"])
        group = f"CN=busy,{ad_base}"
        assert conn.add(group, ["group"], {"member": members}), conn.result
    side = await ad(tmp_path, ad_base, Layout(keys=("cn",)), object_classes=["group"])
    assert isinstance(side, AdProvider)
    first_part = await asyncio.to_thread(
        side._base_search, group.encode(), [b"cn", b"member;range=0-1"]
    )
    description = iter(range(100))

    def touch(_: int) -> None:  # any change to the entry between two parts
        with samba.connection() as conn:
            change = [(ldap3.MODIFY_REPLACE, [f"d{next(description)}"])]
            assert conn.modify(group, {"description": change})

    small_ranges(side, touch)
    with pytest.raises(Transient, match="changed while they were read in parts"):
        await asyncio.to_thread(side._entry, (group.encode(), first_part))
    await side.close()


def test_ranged_values_are_merged_and_the_rest_asked_for() -> None:
    merged, missing = merge_ranges(
        [(b"cn", [b"g"]), (b"member;range=0-1499", [b"a", b"b"]), (b"x;range=0-*", [b"z"])]
    )
    assert merged == [(b"cn", [b"g"]), (b"member", [b"a", b"b"]), (b"x", [b"z"])]
    assert missing == {b"member": 1500}


def test_unfinished_is_what_an_add_leaves_and_keys_compare_as_ad_compares_them() -> None:
    assert unfinished(546, 0)  # disabled, no password required, never given one
    assert unfinished(546 | 0x10000, 0)  # other bits do not matter
    assert not unfinished(514, 0)  # disabled, but a password is required
    assert not unfinished(546, 133_500_000_000_000_000)  # it has a password (a date)
    assert not unfinished(512 | 0x20, 0)  # enabled
    assert not unfinished(None, None)  # no account: a contact, a group
    entry = {b"samaccountname": [b"Ann.Lee"]}
    assert holds_key({"sAMAccountName": " ann.lee"}, entry)
    assert not holds_key({"sAMAccountName": "ann"}, entry)
    assert not holds_key({"employeeID": "7"}, entry)
    assert not holds_key({}, entry)


def test_a_connection_without_tls_is_refused_saying_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match='set tls = "ldaps" or "starttls"'):
        open_provider(
            ad_connection(tmp_path, tls="none", urls=["ldap://127.0.0.1"]),
            Endpoint(connection="ad", container="DC=example,DC=test"),
            USERS,
        )


async def test_ous_are_created_named_by_ou_and_users_created_inside(
    samba: Samba, ad_base: str, tmp_path: Path
) -> None:
    ous = await ad(tmp_path, ad_base, Layout(keys=("ou",)), object_classes=["organizationalUnit"])
    made = await ous.apply(
        [Change(action="create", key="Sales", match={"ou": "Sales"}, object_type="container")]
    )
    users = await ad(tmp_path, f"OU=Sales,{ad_base}")

    created = await users.apply([user("sam")])

    assert [o.error for o in [*made, *created]] == [None, None]
    assert (
        attributes(samba, ad_base)["sam"]["dn"].lower()
        == f"cn=sam person,ou=sales,{ad_base}".lower()
    )
    await ous.close()
    await users.close()
