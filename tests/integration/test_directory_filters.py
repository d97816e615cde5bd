"""A source's `where` that tests an attribute the account can no longer read leaves the
records it held out: that is a failure, never absence.

A directory says no list of its fields before it is read: an attribute whose right was
revoked (or one misspelt where no schema is checked) is simply missing from every entry.
A filter on it then leaves out of the job's scope every record it alone kept in, and
their objects would look absent. The run leaves absent objects alone, saying why; once
the attribute can be read again, the run acts on the objects that really are absent.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.engine.lifecycle import Lifecycle
from core.engine.safety import assess_types
from schemas.connections import PluginConnection, SecretRef, SqliteConnection
from schemas.events import RunFinished
from schemas.jobs import (
    Endpoint,
    FieldMap,
    Job,
    Leavers,
    ObjectMapping,
    ObjectScope,
    Resolve,
    Safety,
)
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.settings import Settings
from services.runner.planning import PlannedRun
from services.runner.planning.reading import Reading
from tests.ldap_server import BLINKERED_DN, BLINKERED_PASSWORD, Slapd
from tests.plugins.lifecycle import empty

from .conftest import RunServices
from .ldap_helpers import USER, connection, create, provider
from .previews import preview_json
from .test_fast_path_mixes import lean_if
from .test_scoped_reads import plan_between, table

STAFF: list[dict[str, Any]] = [
    {"uid": "ada", "cn": "Ada", "sn": "L", "employeeType": "staff", "title": "Founder"},
    {"uid": "bob", "cn": "Bob", "sn": "M", "employeeType": "staff"},
    {"uid": "cyd", "cn": "Cyd", "sn": "N", "employeeType": "contractor"},
]


def staff_job(ldap_base: str, action: str) -> Job:
    return Job(
        id="staff",
        source=Endpoint(
            connection="dir",
            container=ldap_base,
            object_classes=["inetOrgPerson"],
            # staff, and the founder whatever her type
            where={
                "any": [
                    {"field": "employeeType", "equals": "staff"},
                    {"field": "title", "equals": "Founder"},
                ]
            },
        ),
        destination=Endpoint(connection="db", table="people"),
        objects=[
            ObjectMapping(
                keys=["id"],
                fields=[FieldMap(to="id", from_="uid"), FieldMap(to="name", from_="cn")],
                on_destination_only=action,  # type: ignore[arg-type]
            )
        ],
    )


async def entered(
    slapd: Slapd, ldap_base: str, tmp_path: Path, people: list[dict[str, Any]]
) -> None:
    """`people` made entries of the directory, through the provider as the job writes."""
    writer = await provider(connection(tmp_path, slapd.url), ldap_base, USER)
    changes = [create(p["uid"], **{k: v for k, v in p.items() if k != "uid"}) for p in people]
    assert [o.error for o in await writer.apply(changes)] == [None] * len(people)
    await writer.close()


async def planned_as(
    slapd: Slapd, ldap_base: str, tmp_path: Path, lean: bool, **bound: Any
) -> PlannedRun:
    source = connection(tmp_path, slapd.url, **bound)
    target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))
    with lean_if(lean):
        return await plan_between(source, target, staff_job(ldap_base, "delete"), None, Reading())


@pytest.mark.parametrize("lean", [False, True], ids=["in-memory", "lean"])
async def test_a_filter_on_an_attribute_the_account_cannot_read_deletes_nothing(
    slapd: Slapd, ldap_base: str, tmp_path: Path, lean: bool
) -> None:
    await entered(slapd, ldap_base, tmp_path, STAFF)
    # ada and bob are staff; zed left the directory: the only object truly absent.
    rows = [("ada", "Ada"), ("bob", "Bob"), ("zed", "Zed")]
    table(tmp_path / "db.sqlite", "people", ["id", "name"], rows)
    secret = tmp_path / "blinkered"
    secret.write_text(BLINKERED_PASSWORD)
    blinkered = {"bind_dn": BLINKERED_DN, "password": SecretRef(file=str(secret))}

    planned = await planned_as(slapd, ldap_base, tmp_path, lean, **blinkered)

    # ada is in scope (the founder): no empty source to wait on; bob was deleted, within
    # the job's default limits, though he is staff.
    assert [c for c in planned.plan.changes if c.action == "delete"] == []
    assert assess_types(planned.plan, planned.types, Safety(), full_scope=True) is None
    assert any(
        "'employeeType', which none of the records read holds" in w for w in planned.plan.warnings
    ), planned.plan.warnings

    # The right given back (the administrator reads it): zed alone is deleted.
    again = await planned_as(slapd, ldap_base, tmp_path, lean)
    assert sorted(f"{c.action} {c.key}" for c in again.plan.changes) == ["delete zed"]
    assert not any("none of the records read holds" in w for w in again.plan.warnings)


@pytest.mark.parametrize("lean", [False, True], ids=["in-memory", "lean"])
async def test_attributes_named_in_another_case_than_the_directory_spells_them_are_read(
    slapd: Slapd, ldap_base: str, tmp_path: Path, lean: bool
) -> None:
    # Attribute names compare without case: "employeetype" is employeeType, which the
    # server sends as its schema spells it. Read under that spelling alone, the filter
    # held for no record (every staff member's object deleted) and the field mapped from
    # "EmployeeType" was empty in every record.
    await entered(slapd, ldap_base, tmp_path, STAFF)
    rows = [("ada", "Ada", "staff"), ("bob", "Bob", "staff"), ("zed", "Zed", "staff")]
    table(tmp_path / "db.sqlite", "people", ["id", "name", "kind"], rows)
    the_job = staff_job(ldap_base, "delete")
    the_job = msgspec.structs.replace(
        the_job,
        source=msgspec.structs.replace(
            the_job.source, where={"field": "employeetype", "equals": "staff"}
        ),
        objects=[
            msgspec.structs.replace(
                the_job.objects[0],
                fields=[
                    *the_job.objects[0].fields,
                    FieldMap(to="kind", from_="EmployeeType"),
                ],
            )
        ],
    )
    source = connection(tmp_path, slapd.url)
    target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))
    with lean_if(lean):
        planned = await plan_between(source, target, the_job, None, Reading())

    assert sorted(f"{c.action} {c.key}" for c in planned.plan.changes) == ["delete zed"]
    assert planned.plan.warnings == []


async def test_of_several_types_only_the_type_whose_filter_cannot_be_read_is_held(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    # Users filtered on employeeType (which the account cannot read), and groups: the
    # users' absent objects are left alone, the groups' absent one is deleted.
    await entered(slapd, ldap_base, tmp_path, STAFF)
    slapd.ldapadd(
        f"dn: cn=team,{ldap_base}\nobjectClass: groupOfNames\ncn: team\n"
        f"member: uid=ada,{ldap_base}\n"
    )
    people = [("ada", "Ada"), ("bob", "Bob"), ("zed", "Zed")]
    table(tmp_path / "db.sqlite", "people", ["id", "name"], people)
    table(tmp_path / "db.sqlite", "teams", ["id"], [("team",), ("gone",)])
    users = staff_job(ldap_base, "delete")
    teams = ObjectMapping(
        type="team",
        keys=["id"],
        fields=[FieldMap(to="id", from_="cn")],
        source=ObjectScope(
            object_classes=["groupOfNames"], where={"not": {"field": "cn", "equals": "x"}}
        ),
        destination=ObjectScope(table="teams"),
        on_destination_only="delete",
    )
    the_job = msgspec.structs.replace(users, objects=[*users.objects, teams])
    secret = tmp_path / "blinkered"
    secret.write_text(BLINKERED_PASSWORD)
    source = connection(
        tmp_path, slapd.url, bind_dn=BLINKERED_DN, password=SecretRef(file=str(secret))
    )
    target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))
    planned = await plan_between(source, target, the_job, None, Reading())

    assert sorted(f"{c.action} {c.object_type} {c.key}" for c in planned.plan.changes) == [
        "delete team gone"
    ]
    assert any("user: the source's `where` left" in w for w in planned.plan.warnings)


PEOPLE: list[dict[str, Any]] = [
    {"uid": "ada", "cn": "Ada", "sn": "L", "employeeType": "staff"},
    {"uid": "cyd", "cn": "Cyd", "sn": "N", "employeeType": "left"},  # left: disabled
]


@pytest.mark.parametrize("lean", [False, True], ids=["in-memory", "lean"])
async def test_leavers_the_account_cannot_tell_are_not_restored(
    slapd: Slapd, ldap_base: str, tmp_path: Path, lean: bool
) -> None:
    # cyd left (employeeType "left") and was disabled 10 days ago; the job restores
    # those who come back. Read without employeeType, cyd no longer looks like a leaver
    # but like someone back: enabled again, though she is still gone.
    await entered(slapd, ldap_base, tmp_path, PEOPLE)
    objects = {"ada": {"id": "ada", "name": "Ada"}, "cyd": {"id": "cyd", "name": "Cyd"}}
    stored = tmp_path / "objects.json"
    stored.write_text(json.dumps({"": {**empty(), "objects": objects, "disabled": ["cyd"]}}))
    the_job = Job(
        id="leavers",
        source=Endpoint(connection="dir", container=ldap_base, object_classes=["inetOrgPerson"]),
        destination=Endpoint(connection="db"),
        objects=[
            ObjectMapping(
                keys=["id"],
                fields=[FieldMap(to="id", from_="uid"), FieldMap(to="name", from_="cn")],
                on_destination_only="skip",
                restore=True,
                leavers=Leavers(when={"field": "employeeType", "equals": "left"}),
            )
        ],
    )
    now = datetime(2026, 12, 7, tzinfo=UTC)
    lifecycle = Lifecycle(absent_since={"cyd": now - timedelta(days=10)}, now=now)
    reading = Reading(lifecycles={"user": lifecycle})
    target = PluginConnection(
        id="db",
        factory="tests.plugins.lifecycle:LifecycleProvider",
        options={"path": str(stored), "rereadable": True},
        actions=["create", "update", "delete", "disable", "enable"],
    )
    secret = tmp_path / "blinkered"
    secret.write_text(BLINKERED_PASSWORD)
    blinkered = connection(
        tmp_path, slapd.url, bind_dn=BLINKERED_DN, password=SecretRef(file=str(secret))
    )
    with lean_if(lean):
        planned = await plan_between(blinkered, target, the_job, None, reading)

    assert [f"{c.action} {c.key}" for c in planned.plan.changes] == []
    assert any("no object is restored in this run" in w for w in planned.plan.warnings)

    # The right given back: cyd is a leaver still, disabled already: nothing to do.
    with lean_if(lean):
        again = await plan_between(connection(tmp_path, slapd.url), target, the_job, None, reading)
    assert [f"{c.action} {c.key}" for c in again.plan.changes] == []
    assert again.plan.warnings == []


KINDS: list[dict[str, Any]] = [
    {"uid": "ada", "cn": "Ada", "sn": "L", "employeeType": "staff"},
    {"uid": "bob", "cn": "Bob", "sn": "M", "employeeType": "staff"},
    {"uid": "dee", "cn": "Dee", "sn": "O"},  # no type: her object's is cleared
]


def kinds_job(ldap_base: str, *, teams: bool) -> Job:
    users = ObjectMapping(
        keys=["id"],
        fields=[
            FieldMap(to="id", from_="uid"),
            FieldMap(to="name", from_="cn"),
            FieldMap(to="kind", from_="employeeType"),
            FieldMap(to="dn"),
        ],
        destination=ObjectScope(table="people"),
    )
    groups = ObjectMapping(
        type="team",
        keys=["id"],
        fields=[
            FieldMap(to="id", from_="cn"),
            FieldMap(
                to="members",
                from_="member",
                delimiter="|",
                resolve=Resolve(type="user", by="dn"),
            ),
        ],
        source=ObjectScope(object_classes=["groupOfNames"]),
        destination=ObjectScope(table="teams"),
    )
    return Job(
        id="kinds",
        source=Endpoint(connection="dir", container=ldap_base, object_classes=["inetOrgPerson"]),
        destination=Endpoint(connection="db"),
        objects=[users, groups] if teams else [users],
    )


def kinds_seeded(slapd: Slapd, ldap_base: str, tmp_path: Path) -> None:
    for p in KINDS:
        kind = f"employeeType: {p['employeeType']}\n" if "employeeType" in p else ""
        slapd.ldapadd(
            f"dn: uid={p['uid']},{ldap_base}\nobjectClass: inetOrgPerson\nuid: {p['uid']}\n"
            f"cn: {p['cn']}\nsn: {p['sn']}\n{kind}"
        )
    for cn, members in (("team", ["ada", "bob"]), ("crew", ["dee"])):
        listed = "".join(f"member: uid={m},{ldap_base}\n" for m in members)
        slapd.ldapadd(f"dn: cn={cn},{ldap_base}\nobjectClass: groupOfNames\ncn: {cn}\n{listed}")
    # bob's name changed; dee's kind is gone from the source; crew gained ada by hand.
    people = [
        ("ada", "Ada", "staff", f"uid=ada,{ldap_base}"),
        ("bob", "Bobby", "staff", f"uid=bob,{ldap_base}"),
        ("dee", "Dee", "old", f"uid=dee,{ldap_base}"),
    ]
    table(tmp_path / "db.sqlite", "people", ["id", "name", "kind", "dn"], people)
    table(
        tmp_path / "db.sqlite",
        "teams",
        ["id", "members"],
        [("team", "ada|bob"), ("crew", "dee|ada")],
    )


def shown(planned: PlannedRun) -> list[str]:
    return sorted(
        f"{c.action} {c.object_type} {c.key} set={sorted(c.set)} clear={sorted(c.clear)}"
        f" remove={sorted(c.remove)}"
        for c in planned.plan.changes
    )


@pytest.mark.parametrize("teams", [False, True], ids=["users", "users-and-teams"])
@pytest.mark.parametrize("lean", [False, True], ids=["in-memory", "lean"])
async def test_a_field_from_an_attribute_the_account_cannot_read_is_cleared_on_no_object(
    slapd: Slapd, ldap_base: str, tmp_path: Path, lean: bool, teams: bool
) -> None:
    # The account may no longer read employeeType nor member: every user read without a
    # kind, every team without a member. The run cleared every kind, and removed every
    # member of every team — no safety limit holds updates.
    kinds_seeded(slapd, ldap_base, tmp_path)
    the_job = kinds_job(ldap_base, teams=teams)
    target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))
    secret = tmp_path / "blinkered"
    secret.write_text(BLINKERED_PASSWORD)
    blinkered = connection(
        tmp_path, slapd.url, bind_dn=BLINKERED_DN, password=SecretRef(file=str(secret))
    )
    with lean_if(lean):
        planned = await plan_between(blinkered, target, the_job, None, Reading())
        twice = await plan_between(blinkered, target, the_job, None, Reading())

    # What is set still goes: bob's new name.
    assert shown(planned) == ["update user bob set=['name'] clear=[] remove=[]"]
    assert planned.plan.hash == twice.plan.hash
    counts = planned.plan.counts
    assert (counts.update, counts.unchanged) == (1, 4 if teams else 2)
    held = [w for w in planned.plan.warnings if "none of the 3 records read holds" in w]
    assert held and planned.plan.warnings.index(held[0]) < planned.plan.leading
    assert "user: 'kind' is made from 'employeeType'" in held[0]
    assert "the account may read it" in held[0] and "--key" in held[0]
    if teams:
        told = [w for w in planned.plan.warnings if "team: 'members' is made from 'member'" in w]
        assert told, planned.plan.warnings

    # Had every record truly lost it: a run scoped to keys clears it, as the warning says.
    scoped = await plan_between(blinkered, target, kinds_job(ldap_base, teams=False), ["dee"])
    assert shown(scoped) == ["update user dee set=[] clear=['kind'] remove=[]"]

    # The right given back (the administrator reads it): dee's kind is cleared, ada is
    # removed from crew, as ever.
    with lean_if(lean):
        again = await plan_between(
            connection(tmp_path, slapd.url), target, the_job, None, Reading()
        )
    expected = [
        "update user bob set=['name'] clear=[] remove=[]",
        "update user dee set=[] clear=['kind'] remove=[]",
    ]
    assert [s for s in shown(again) if " user " in s] == expected
    if teams:
        team_changes = [
            f"{c.action} {c.key}" for c in again.plan.changes if c.object_type == "team"
        ]
        assert team_changes == ["update crew"]
    assert not any("none of the" in w for w in again.plan.warnings)


async def test_the_run_applies_the_previewed_plan_and_keeps_every_kind_and_member(
    slapd: Slapd,
    ldap_base: str,
    tmp_path: Path,
    session: Session,
    settings: Settings,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Through every service: `job preview` shows the plan the run applies, and the
    # destination keeps every kind and every member the account could not read.
    kinds_seeded(slapd, ldap_base, tmp_path)
    secret = tmp_path / "blinkered"
    secret.write_text(BLINKERED_PASSWORD)
    blinkered = connection(
        tmp_path, slapd.url, bind_dn=BLINKERED_DN, password=SecretRef(file=str(secret))
    )
    await session.store.put_connection(blinkered)
    await session.store.put_connection(SqliteConnection(id="db", path=str(tmp_path / "db.sqlite")))
    await session.store.put_job(kinds_job(ldap_base, teams=True))
    async with services():
        shown = await preview_json(settings, capsys, "kinds")
        _, end = await follow_run(session, "kinds", None)
    assert isinstance(end, RunFinished), end
    assert end.plan_hash == shown["plan_hash"]
    assert [f"{c['action']} {c['key']}" for c in shown["changes"]] == ["update bob"]
    db = sqlite3.connect(tmp_path / "db.sqlite")
    people = db.execute("SELECT id, name, kind FROM people ORDER BY id").fetchall()
    teams = db.execute("SELECT id, members FROM teams ORDER BY id").fetchall()
    db.close()
    assert people == [("ada", "Ada", "staff"), ("bob", "Bob", "staff"), ("dee", "Dee", "old")]
    assert teams == [("crew", "dee|ada"), ("team", "ada|bob")]


@pytest.mark.parametrize("lean", [False, True], ids=["in-memory", "lean"])
async def test_a_field_held_warns_of_no_object_absent_from_the_source(
    slapd: Slapd, ldap_base: str, tmp_path: Path, lean: bool
) -> None:
    # No object the source's records are planned against holds a kind; zed, whom the
    # source no longer has (left alone), does: no clear of a kind was kept, so no run warns.
    kinds_seeded(slapd, ldap_base, tmp_path)
    people = [
        (uid, name, None, f"uid={uid},{ldap_base}")
        for uid, name in (("ada", "Ada"), ("bob", "Bob"), ("dee", "Dee"))
    ]
    table(
        tmp_path / "only.sqlite",
        "people",
        ["id", "name", "kind", "dn"],
        [*people, ("zed", "Zed", "old", f"uid=zed,{ldap_base}")],
    )
    target = SqliteConnection(id="db", path=str(tmp_path / "only.sqlite"))
    secret = tmp_path / "blinkered"
    secret.write_text(BLINKERED_PASSWORD)
    blinkered = connection(
        tmp_path, slapd.url, bind_dn=BLINKERED_DN, password=SecretRef(file=str(secret))
    )
    with lean_if(lean):
        planned = await plan_between(
            blinkered, target, kinds_job(ldap_base, teams=False), None, Reading()
        )
    assert shown(planned) == []
    assert not any("none of the" in w for w in planned.plan.warnings), planned.plan.warnings
    assert planned.plan.leading == 0
