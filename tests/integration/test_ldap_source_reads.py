"""An LDAP source asks the server only for the attributes the job reads — and the plan is
exactly the one reading every attribute gives, in every job shape that reads a directory.

Each case plans a job from a real slapd into another subtree twice: as a run does (the
source told the fields the job reads), and with the source asking for every attribute
("*") as it did before, and compares the plans, their hashes and their failed records.
The entries hold what a directory holds: non-ASCII and escaped DNs, several values,
binary photos, attributes the job does not map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import ldap3
import pytest

from core.engine import source_multi_valued
from schemas.connections import LdapConnection
from schemas.jobs import (
    Changes,
    Endpoint,
    FieldMap,
    Job,
    Leavers,
    ObjectMapping,
    ObjectScope,
    Resolve,
)
from schemas.values import Binary
from services.providers.base import Layout
from services.runner.planning import PlannedRun, sides
from services.runner.planning.reading import Reading
from tests.ldap_server import OTHER_SUFFIX, Slapd

from .ldap_helpers import USER, connection, create, provider, read_all
from .test_scoped_reads import plan_between

PHOTO = bytes(range(256)) * 3
PERSON = ["inetOrgPerson"]
PEOPLE: list[dict[str, Any]] = [
    {"uid": "ada", "cn": "Ada Lovelace", "sn": "Lovelace", "givenName": "Ada"},
    {"uid": "zoë", "cn": "Zoë Ångström", "sn": "Ångström", "givenName": "Zoë"},
    {"uid": "smith, jr.", "cn": "John Smith, Jr.", "sn": "Smith", "givenName": "John"},
    {"uid": "a+b=c", "cn": "A+B", "sn": "B", "givenName": "A", "jpegPhoto": Binary(PHOTO)},
    {"uid": "left", "cn": "Left One", "sn": "One", "employeeType": "left"},
    {"uid": "bare", "cn": "Bare", "sn": "Bare"},
]
for n, person in enumerate(PEOPLE):
    person.update(
        mail=f"p{n}@example.org",
        title="Engineer" if n % 2 else "Researcher",
        description=f"not mapped {n}",
        businessCategory=["staff", f"team-{n % 3}"] if n % 3 else "staff",
        departmentNumber=f"D{n}",
    )


@pytest.fixture
async def directory(slapd: Slapd, ldap_base: str, tmp_path: Path) -> tuple[LdapConnection, str]:
    """The people below `ldap_base`, a group of some of them, and a copy of two of them
    (one out of date) below a subtree of the other suffix: the job's destination."""
    conn = connection(tmp_path, slapd.url)
    side = await provider(conn, ldap_base, USER)
    changes = [create(p["uid"], **{k: v for k, v in p.items() if k != "uid"}) for p in PEOPLE]
    assert [o.error for o in await side.apply(changes)] == [None] * len(PEOPLE)
    await side.close()
    people = await read_all(await provider(conn, ldap_base, USER, write=False))
    members = "".join(f"member: {r['dn']}\n" for r in people if r["uid"] != "bare")
    slapd.ldapadd(
        f"dn: cn=everyone,{ldap_base}\nobjectClass: groupOfNames\ncn: everyone\n"
        f"description: all but one\n{members}"
    )
    copy = f"ou=copy-{ldap_base.split(',')[0][3:]},{OTHER_SUFFIX}"
    slapd.ldapadd(
        f"dn: {copy}\nobjectClass: organizationalUnit\nou: {copy.split(',')[0][3:]}\n\n"
        f"dn: uid=ada,{copy}\nobjectClass: inetOrgPerson\nuid: ada\ncn: Ada Lovelace\nsn: L\n\n"
        f"dn: uid=gone,{copy}\nobjectClass: inetOrgPerson\nuid: gone\ncn: Gone\nsn: G\n",
        bind_dn=f"cn=admin,{OTHER_SUFFIX}",
    )
    return conn, copy


def job(base: str, copy: str, *objects: ObjectMapping, **fields: Any) -> Job:
    return Job(
        id="from-dir",
        source=Endpoint(connection="dir", container=base, object_classes=["inetOrgPerson"]),
        destination=Endpoint(connection="dir", container=copy, object_classes=["inetOrgPerson"]),
        objects=list(objects),
        **fields,
    )


async def plan(
    conn: LdapConnection, the_job: Job, keys: list[str] | None, reading: Reading | None
) -> PlannedRun:
    return await plan_between(conn, conn, the_job, keys, reading)


def every_attribute(mapping: ObjectMapping, where: dict[str, Any] | None = None) -> Layout:
    """A source layout naming no field read: the source asks for every attribute."""
    return Layout(multi_valued=source_multi_valued(mapping))


async def both_ways(
    conn: LdapConnection,
    the_job: Job,
    monkeypatch: pytest.MonkeyPatch,
    keys: list[str] | None = None,
    reading: Reading | None = None,
) -> PlannedRun:
    asked = await plan(conn, the_job, keys, reading)
    with monkeypatch.context() as patched:
        patched.setattr(sides, "source_layout", every_attribute)
        whole = await plan(conn, the_job, keys, reading)
    assert asked.plan.hash == whole.plan.hash
    assert asked.plan.changes == whole.plan.changes
    assert asked.plan.counts == whole.plan.counts
    assert asked.record_errors == whole.record_errors
    assert (asked.source_records, asked.watermark) == (whole.source_records, whole.watermark)
    return asked


COPIES = [
    FieldMap(to="uid"),
    FieldMap(to="cn"),
    FieldMap(to="sn"),
    FieldMap(to="mail"),
    FieldMap(to="jpegPhoto"),
    FieldMap(to="businessCategory", delimiter="|"),
]
TRANSFORMED = [
    *COPIES,
    FieldMap(to="displayName", transform={"join": ["givenName", "sn"], "separator": " "}),
    FieldMap(to="title", transform={"format": "{title} of {departmentNumber}"}),
    FieldMap(to="givenName", transform={"default": ["cn"]}),
    FieldMap(to="seeAlso", from_="dn"),
    FieldMap(
        to="employeeType",
        from_="title",
        transform={"if": {"field": "mail", "matches": "p[0-3]@"}, "then": "upper"},
    ),
]
SHAPES: dict[str, dict[str, Any]] = {
    "copies: text, several values, a photo": {
        "objects": [ObjectMapping(keys=["uid"], fields=COPIES, on_destination_only="delete")],
    },
    "transformations naming other fields, the DN as a value": {
        "objects": [ObjectMapping(keys=["uid"], fields=TRANSFORMED, on_destination_only="delete")],
    },
    "leavers and the source's where": {
        "objects": [
            ObjectMapping(
                keys=["uid"],
                fields=COPIES,
                leavers=Leavers(when={"field": "employeeType", "equals": "left"}, action="delete"),
                source=ObjectScope(where={"field": "givenName", "empty": False}),
            )
        ],
    },
    "keys asked for: the source looked up": {
        "objects": [ObjectMapping(keys=["uid"], fields=TRANSFORMED)],
        "keys": ["zoë", "smith, jr.", "nobody"],
    },
    "incremental: changed since a watermark": {
        "objects": [ObjectMapping(keys=["uid"], fields=TRANSFORMED)],
        "changes": Changes(),
        "reading": Reading(incremental=True, since="20000101000000Z"),
    },
    "users and a group whose members resolve": {
        "objects": [
            ObjectMapping(
                type="user",
                keys=["uid"],
                fields=[*COPIES, FieldMap(to="description", from_="dn")],
            ),
            ObjectMapping(
                type="group",
                keys=["cn"],
                source=ObjectScope(object_classes=["groupOfNames"]),
                destination=ObjectScope(object_classes=["groupOfNames"]),
                fields=[
                    FieldMap(to="cn"),
                    FieldMap(
                        to="member",
                        delimiter="|",
                        resolve=Resolve(type="user", by="description"),
                    ),
                ],
            ),
        ],
    },
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_asking_for_the_fields_read_plans_what_asking_for_every_attribute_plans(
    directory: tuple[LdapConnection, str],
    ldap_base: str,
    shape: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn, copy = directory
    case = SHAPES[shape]
    extra = {"changes": case["changes"]} if "changes" in case else {}
    the_job = job(ldap_base, copy, *case["objects"], **extra)
    planned = await both_ways(conn, the_job, monkeypatch, case.get("keys"), case.get("reading"))
    assert planned.plan.changes  # every shape plans something to compare


async def test_a_source_reads_the_fields_the_job_reads_and_a_script_every_one(
    directory: tuple[LdapConnection, str], ldap_base: str
) -> None:
    conn, _ = directory
    transformed = ObjectMapping(keys=["uid"], fields=TRANSFORMED)
    side = await provider(
        conn, ldap_base, sides.source_layout(transformed), write=False, object_classes=PERSON
    )
    records = {r["uid"]: r for r in await read_all(side)}
    read = {"dn", "uid", "cn", "sn", "mail", "jpegPhoto", "businessCategory", "givenName"}
    read |= {"title", "departmentNumber"}
    assert set(records["a+b=c"]) == read  # no objectClass, no description: not mapped
    assert records["a+b=c"]["jpegPhoto"] == Binary(PHOTO)
    assert records["zoë"]["dn"] == f"uid=zoë,{ldap_base}"
    assert records["smith, jr."]["dn"] == f"uid=smith\\2C jr.,{ldap_base}"  # as slapd keeps it

    # Named by the job, an operational attribute is read as well; the DN alone is "1.1".
    named = ObjectMapping(keys=["id"], fields=[FieldMap(to="id", from_="entryUUID")])
    side = await provider(
        conn, ldap_base, sides.source_layout(named), write=False, object_classes=PERSON
    )
    assert all(len(str(r["entryUUID"])) == 36 for r in await read_all(side))
    only_dn = ObjectMapping(keys=["id"], fields=[FieldMap(to="id", from_="dn")])
    side = await provider(
        conn, ldap_base, sides.source_layout(only_dn), write=False, object_classes=PERSON
    )
    assert [set(r) for r in await read_all(side)] == [{"dn"}] * len(PEOPLE)

    # A script is given the whole record: the source reads every attribute for it.
    script = FieldMap(to="note", transform={"script": "tests.plugins.scripted:login"})
    scripted = ObjectMapping(keys=["uid"], fields=[FieldMap(to="uid"), script])
    side = await provider(
        conn, ldap_base, sides.source_layout(scripted), write=False, object_classes=PERSON
    )
    assert {"description", "objectClass"} <= set((await read_all(side))[0])


async def test_a_source_reads_the_schema_once(slapd: Slapd, ldap_base: str, tmp_path: Path) -> None:
    """Opening a source reads the server's schema once, bound (its binary attributes and
    the keys' rules come from it), not once more anonymously first."""
    read = ldap3.Server.get_info_from_server
    bound: list[bool] = []  # of each read from the server, whether its connection was

    def reading(server: ldap3.Server, conn: ldap3.Connection | None) -> None:
        if conn is not None:  # (ldap3 makes each Server ask with none too: nothing read)
            bound.append(conn.bound)
        read(server, conn)

    with mock.patch.object(ldap3.Server, "get_info_from_server", reading):
        side = await provider(connection(tmp_path, slapd.url), ldap_base, USER, write=False)
    await side.close()
    assert bound == [True]
    assert getattr(side, "keys_fold", None) is True  # uid compares without case
