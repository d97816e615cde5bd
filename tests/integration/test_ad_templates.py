"""The four Active Directory templates idsync ships, each made into a job with `idsync
template use` and run through every service against a real Samba AD DC: what each does
to the directory, and that a second run writes nothing."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import ldap3

from schemas.events import RunAwaitingApproval, RunFinished, is_end
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.definitions import load_connections
from services.common.settings import Settings
from tests.ad_server import ADMIN, ADMIN_PASSWORD, URL, Samba, sam

from .conftest import RunServices
from .journal import wait_for_event
from .test_cli import idsync
from .test_ldap_jobs import run

DISABLED = 0x2


async def connections(session: Session, folder: Path) -> None:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "ad-password").write_text(ADMIN_PASSWORD + "\n")
    (folder / "connections.toml").write_text(
        f"""[hr]
provider = "csv"
directory = "data"

[corp]
provider = "ad"
urls = ["{URL}"]
bind_dn = "{ADMIN}"
password = {{ file = "{folder / "ad-password"}" }}
verify = false
"""
    )
    for connection in load_connections(folder / "connections.toml"):
        await session.store.put_connection(connection)


async def use(settings: Settings, *args: str) -> None:
    made = await idsync(settings, "template", "use", *args)
    assert made.returncode == 0, made.stderr


def add_user(
    samba: Samba, dn: str, login: str, mail: str | None = None, enabled: bool = False
) -> None:
    first, last = login.split("-")[-1].title(), "Tester"
    attributes: dict[str, Any] = {
        "sAMAccountName": login,
        "givenName": first,
        "sn": last,
        "displayName": f"{first} {last} ({login})",
    }
    if mail:
        attributes["mail"] = mail
    with samba.connection() as conn:
        assert conn.add(dn, ["top", "person", "organizationalPerson", "user"], attributes), (
            conn.result
        )
        if enabled:
            assert conn.extend.microsoft.modify_password(dn, "Pa55-word-Idsync!"), conn.result
            assert conn.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [512])]})


def add_group(samba: Samba, dn: str, login: str, mail: str | None = None) -> None:
    attributes: dict[str, Any] = {"sAMAccountName": login}
    if mail:
        attributes["mail"] = mail
    with samba.connection() as conn:
        assert conn.add(dn, ["top", "group"], attributes), conn.result


def found(samba: Samba, base: str, flt: str, by: str = "sAMAccountName") -> dict[str, Any]:
    with samba.connection() as conn:
        conn.search(base, flt, attributes=["*", "userAccountControl", "objectSid"])
        return {
            str(e["attributes"][by]): dict(e["attributes"], dn=e["dn"])
            for e in conn.response or []
            if e.get("type") == "searchResEntry"
        }


def staff(
    folder: Path, logins: list[str], left: tuple[str, ...] = (), ous: dict[str, str] | None = None
) -> None:
    """The HR export: each login listed, with its status ("left" for those in `left`) and
    its OU (from `ous`, else none)."""
    with (folder / "data" / "staff.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["sAMAccountName", "status", "ou"])
        writer.writerows(
            [login, "Left" if login in left else "active", (ous or {}).get(login, "")]
            for login in logins
        )


async def moving(
    template: str, samba: Samba, ad_base: str, folder: Path, settings: Settings, session: Session
) -> tuple[str, str, list[str]]:
    """Three enabled accounts in OU=Dest, a job of `template` moving the absent to OU=Gone."""
    dest, gone = f"OU=Dest,{ad_base}", f"OU=Gone,OU=Dest,{ad_base}"
    samba.add_ou(dest)
    samba.add_ou(gone)
    logins = [sam(f"mv-{name}") for name in ("ann", "bob", "cy")]
    for login in logins:
        add_user(samba, f"CN={login},{dest}", login, enabled=True)
    await connections(session, folder)
    staff(folder, logins[:2])
    await use(
        settings,
        template,
        "leavers",
        "--source", "hr", "--source-set", "file=staff.csv",
        "--destination", "corp", "--destination-set", f"container={dest}",
        "--set", f"move_to={gone}", "--set", f"container={dest}",
    )  # fmt: skip
    return dest, gone, logins


async def test_move_objects_moves_the_absent_and_back(
    samba: Samba,
    ad_base: str,
    tmp_path: Path,
    settings: Settings,
    session: Session,
    services: RunServices,
) -> None:
    folder = tmp_path / "job"
    dest, gone, logins = await moving("ad-move-objects", samba, ad_base, folder, settings, session)
    async with services():
        first = await run(session, "leavers")
        assert (first.stats.moved, first.stats.failed) == (1, 0)
        now = found(samba, dest, "(objectClass=user)")
        assert now[logins[2]]["dn"].endswith(gone)
        assert not now[logins[2]]["userAccountControl"] & DISABLED  # moved, nothing else
        assert all(now[login]["dn"] == f"CN={login},{dest}" for login in logins[:2])
        assert (await run(session, "leavers")).stats.written == 0
        staff(folder, logins)
        back = await run(session, "leavers")
        assert back.stats.failed == 0
        assert found(samba, dest, "(objectClass=user)")[logins[2]]["dn"] == f"CN={logins[2]},{dest}"

        # The OU the source names: an account listed there is moved to it.
        sales = f"OU=Sales,{dest}"
        samba.add_ou(sales)
        staff(folder, logins, ous={logins[0]: sales})
        moved = await run(session, "leavers")
        assert (moved.stats.moved, moved.stats.updated, moved.stats.failed) == (1, 0, 0)
        now = found(samba, dest, "(objectClass=user)")
        assert now[logins[0]]["dn"] == f"CN={logins[0]},{sales}"
        assert not now[logins[0]]["userAccountControl"] & DISABLED  # moved, nothing else
        assert all(now[login]["dn"] == f"CN={login},{dest}" for login in logins[1:])
        # The same OU spelled another way, or no OU named: it stays where it is.
        staff(folder, logins, ous={logins[0]: sales.lower().replace(",", " , ")})
        assert (await run(session, "leavers")).stats.written == 0
        staff(folder, logins)
        assert (await run(session, "leavers")).stats.written == 0
    assert found(samba, dest, "(objectClass=user)")[logins[0]]["dn"] == f"CN={logins[0]},{sales}"


async def test_move_and_disable_objects_disables_and_moves_then_restores(
    samba: Samba,
    ad_base: str,
    tmp_path: Path,
    settings: Settings,
    session: Session,
    services: RunServices,
) -> None:
    folder = tmp_path / "job"
    template = "ad-move-and-disable-objects"
    dest, gone, logins = await moving(template, samba, ad_base, folder, settings, session)
    async with services():
        first = await run(session, "leavers")
        assert (first.stats.disabled, first.stats.failed) == (1, 0)
        left = found(samba, dest, "(objectClass=user)")[logins[2]]
        assert left["dn"] == f"CN={logins[2]},{gone}"
        assert left["userAccountControl"] & DISABLED
        assert (await run(session, "leavers")).stats.written == 0
        staff(folder, logins[:2], left=(logins[1],))  # still listed, but marked as gone
        marked = await run(session, "leavers")
        assert (marked.stats.disabled, marked.stats.failed) == (1, 0)
        now = found(samba, dest, "(objectClass=user)")
        assert now[logins[1]]["dn"] == f"CN={logins[1]},{gone}"
        assert now[logins[1]]["userAccountControl"] & DISABLED
        assert now[logins[0]]["dn"] == f"CN={logins[0]},{dest}"
        assert not now[logins[0]]["userAccountControl"] & DISABLED
        assert (await run(session, "leavers")).stats.written == 0
        staff(folder, logins[:2])  # no longer marked: back, as one listed again is
        assert (await run(session, "leavers")).stats.failed == 0
        staff(folder, logins)
        assert (await run(session, "leavers")).stats.failed == 0
    for login in logins:
        returned = found(samba, dest, "(objectClass=user)")[login]
        assert returned["dn"] == f"CN={login},{dest}"
        assert not returned["userAccountControl"] & DISABLED


async def test_sync_gal_makes_mail_contacts_of_the_source_users(
    samba: Samba,
    ad_base: str,
    tmp_path: Path,
    settings: Settings,
    session: Session,
    services: RunServices,
) -> None:
    source, gal = f"OU=Forest,{ad_base}", f"OU=GAL,{ad_base}"
    samba.add_ou(source)
    samba.add_ou(gal)
    people = {sam(f"gal-{n}"): f"{n}@forest.example" for n in ("ann", "bob", "cy")}
    for login, mail in people.items():
        add_user(samba, f"CN={login},{source}", login, mail)
    add_user(samba, f"CN={sam('gal-nomail')},{source}", sam("gal-nomail"))  # not in the GAL
    await connections(session, tmp_path / "job")
    await use(
        settings,
        "ad-sync-gal",
        "gal",
        "--source", "corp", "--source-set", f"container={source}",
        "--destination", "corp", "--destination-set", f"container={gal}",
    )  # fmt: skip
    async with services():
        first = await run(session, "gal")
        assert (first.stats.created, first.stats.failed) == (3, 0)
        contacts = found(samba, gal, "(objectClass=contact)", by="mail")
        assert sorted(contacts) == sorted(people.values())
        ann = contacts["ann@forest.example"]
        assert ann["proxyAddresses"] == ["SMTP:ann@forest.example"]
        assert ann["displayName"] == f"Ann Tester ({sam('gal-ann')})"
        assert ann["cn"] == ann["displayName"] and ann["givenName"] == "Ann"
        assert (await run(session, "gal")).stats.written == 0
        with samba.connection() as conn:
            conn.delete(f"CN={sam('gal-cy')},{source}")
        gone = await run(session, "gal")
        assert (gone.stats.deleted, gone.stats.failed) == (1, 0)
    assert "cy@forest.example" not in found(samba, gal, "(objectClass=contact)", by="mail")


async def test_sync_gal_makes_mail_contacts_of_the_source_groups_beside_its_users(
    samba: Samba,
    ad_base: str,
    tmp_path: Path,
    settings: Settings,
    session: Session,
    services: RunServices,
) -> None:
    source, gal = f"OU=Forest,{ad_base}", f"OU=GAL,{ad_base}"
    samba.add_ou(source)
    samba.add_ou(gal)
    user, sales, board = sam("galg-ann"), sam("galg-sales"), sam("galg-board")
    add_user(samba, f"CN={user},{source}", user, "ann@forest.example")
    add_group(samba, f"CN={sales},{source}", sales, "sales@forest.example")
    add_group(samba, f"CN={board},{source}", board, "board@forest.example")
    add_group(samba, f"CN={sam('galg-nomail')},{source}", sam("galg-nomail"))  # no mail
    await connections(session, tmp_path / "job")
    await use(
        settings,
        "ad-sync-gal",
        "gal",
        "--source", "corp", "--source-set", f"container={source}",
        "--destination", "corp", "--destination-set", f"container={gal}",
    )  # fmt: skip

    def contacts() -> dict[str, Any]:
        return found(samba, gal, "(objectClass=contact)", by="mail")

    async with services():
        first = await run(session, "gal")
        assert (first.stats.created, first.stats.failed) == (3, 0)
        made = contacts()
        assert sorted(made) == [f"{n}@forest.example" for n in ("ann", "board", "sales")]
        group = made["sales@forest.example"]
        assert group["dn"] == f"CN={sales},{gal}"  # a group without a displayName: its cn
        assert group["displayName"] == sales and group["info"] == "Mail-enabled group"
        assert group["proxyAddresses"] == ["SMTP:sales@forest.example"]
        assert "info" not in made["ann@forest.example"] or not made["ann@forest.example"]["info"]
        assert (await run(session, "gal")).stats.written == 0  # neither type sees the other's

        with samba.connection() as conn:
            assert conn.modify(
                f"CN={sales},{source}", {"displayName": [(ldap3.MODIFY_REPLACE, ["Sales Team"])]}
            )
            assert conn.modify(
                f"CN={user},{source}", {"title": [(ldap3.MODIFY_REPLACE, ["Engineer"])]}
            )
        changed = await run(session, "gal")
        assert (changed.stats.updated, changed.stats.failed) == (2, 0)
        now = contacts()
        assert now["sales@forest.example"]["displayName"] == "Sales Team"
        assert now["ann@forest.example"]["title"] == "Engineer"

        with samba.connection() as conn:
            assert conn.delete(f"CN={board},{source}")
        gone = await run(session, "gal")
        assert (gone.stats.deleted, gone.stats.failed) == (1, 0)
        assert sorted(contacts()) == ["ann@forest.example", "sales@forest.example"]
        with samba.connection() as conn:
            assert conn.delete(f"CN={user},{source}")
        # The people's export is empty now: their contacts wait, as in a job of them alone.
        run_id, waiting = await follow_run(session, "gal", None)
        assert isinstance(waiting, RunAwaitingApproval), waiting
        assert waiting.reason.startswith(
            "contact: the source returned no records while the destination holds 1 object"
        )
        await session.decide("approve", run_id)
        emptied = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
        assert isinstance(emptied, RunFinished)
        assert (emptied.stats.deleted, emptied.stats.failed) == (1, 0)
    assert sorted(contacts()) == ["sales@forest.example"]


async def test_linked_mailbox_creation_makes_disabled_accounts_holding_their_masters_sid(
    samba: Samba,
    ad_base: str,
    tmp_path: Path,
    settings: Settings,
    session: Session,
    services: RunServices,
) -> None:
    accounts, resources = f"OU=Accounts,{ad_base}", f"OU=Resources,{ad_base}"
    samba.add_ou(accounts)
    samba.add_ou(resources)
    masters = {sam(f"lm-{n}"): f"{n}@accounts.example" for n in ("ann", "bob")}
    for login, mail in masters.items():
        add_user(samba, f"CN={login},{accounts}", login, mail, enabled=True)
    await connections(session, tmp_path / "job")
    # One domain plays both forests here: the resource accounts need logins of their own.
    await use(
        settings,
        "ad-linked-mailbox",
        "linked",
        "--source", "corp", "--source-set", f"container={accounts}",
        "--destination", "corp", "--destination-set", f"container={resources}",
        "--set", "login=r{sAMAccountName}",
    )  # fmt: skip
    async with services():
        first = await run(session, "linked")
        assert (first.stats.created, first.stats.failed) == (2, 0)
        assert (await run(session, "linked")).stats.written == 0
    source = found(samba, accounts, "(objectClass=user)")
    made = found(samba, resources, "(objectClass=user)")
    assert sorted(made) == sorted(f"r{login}" for login in masters)
    for login, mail in masters.items():
        linked = made[f"r{login}"]
        assert linked["userAccountControl"] & DISABLED  # never enabled: no password given
        assert linked["info"] == str(source[login]["objectSid"])
        # Samba has no Exchange schema: the binary link is left out, and nothing failed.
        assert "msExchMasterAccountSid" not in linked
        assert linked["mail"] == mail and linked["proxyAddresses"] == [f"SMTP:{mail}"]
        assert linked["dn"] == f"CN={source[login]['displayName']},{resources}"
