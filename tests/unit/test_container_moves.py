"""Objects follow the container their source record names (`container_from` with
`on_both = "update"`): an object the destination says is elsewhere is moved there, a
container spelled another way is the same container, and nothing moves where a side
says nothing or the record failed — in one type, several, with references, and in the
lean planner, which must plan the very same changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from core.checks.job import check_job
from core.checks.policy import asked_actions
from core.engine import plan
from core.engine.containers import CONTAINER_FIELD, canonical_dn, same_container
from core.engine.digests import DigestIndex
from core.engine.failures import Failure
from core.engine.lifecycle import Lifecycle
from core.engine.objects import ObjectType, plan_objects
from core.engine.plan import Plan
from core.errors import BadInput
from schemas.connections import (
    Connection,
    CsvConnection,
    LdapConnection,
    SecretRef,
    SqliteConnection,
)
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Resolve
from schemas.plan import RecordError
from schemas.values import Record
from services.providers import FACTS

SECRET = SecretRef(env="LDAP_PASSWORD")
SALES = "ou=Sales,dc=example,dc=org"
IT = "ou=IT,dc=example,dc=org"
MAPPING = ObjectMapping(
    keys=["uid"],
    container_from="ou",
    fields=[FieldMap(to="uid"), FieldMap(to="mail")],
)
MANAGED = ("uid", "mail")


def source(uid: str, where: str | None, mail: str = "") -> Record:
    record: Record = {"uid": uid, "mail": mail or f"{uid}@example.org"}
    return record if where is None else {**record, CONTAINER_FIELD: where}


def found(uid: str, where: str | None, mail: str = "") -> Record:
    return source(uid, where, mail)  # a directory's record: where it is, the same way


def moves(the_plan: Plan) -> dict[str, str | None]:
    return {c.key: c.container for c in the_plan.changes if c.action == "move"}


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("ou=Sales,dc=example,dc=org", "OU=sales,DC=Example,DC=ORG"),
        ("ou=Sales,dc=example,dc=org", "ou = Sales , dc=example,  dc=org"),
        ("ou=Sales\\, Paris,dc=example,dc=org", "ou=Sales\\2C Paris,dc=example,dc=org"),
        ("ou=Sales\\, Paris,dc=example,dc=org", "ou=sales\\2c  paris,dc=example,dc=org"),
        ("ou=\\C3\\89t\\C3\\A9,dc=example,dc=org", "ou=été,dc=example,dc=org"),
        ("cn=a+ou=b,dc=example,dc=org", "OU=B+CN=A,dc=example,dc=org"),
        ("Sales", " sales "),
    ],
)
def test_a_container_spelled_another_way_is_the_same(one: str, other: str) -> None:
    assert same_container(one, other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (SALES, IT),
        ("ou=a\\,cn=b,dc=example,dc=org", "ou=a,cn=b,dc=example,dc=org"),  # an escaped comma
        ("ou=a\\+cn=b,dc=org", "ou=a+cn=b,dc=org"),
        ("ou=Sales,dc=example,dc=org", "ou=Sales,dc=example"),
        ("ou=Sales", "Sales"),  # a DN is never the same as a text that is not one
    ],
)
def test_other_containers_are_other(one: str, other: str) -> None:
    assert not same_container(one, other)


def test_text_that_is_no_dn_has_no_canonical_dn() -> None:
    assert canonical_dn("Sales") is None and canonical_dn("") is None
    assert canonical_dn("ou=a,Sales") is None and canonical_dn("ou=a\\") is None
    assert canonical_dn("OU=Sales, DC=Example") == "ou=sales,dc=example"


def test_an_object_the_destination_has_elsewhere_is_moved_where_its_record_says() -> None:
    the_plan = plan(
        [source("ann", IT), source("bob", "OU=sales, DC=example,DC=org"), source("cy", IT)],
        [found("ann", SALES), found("bob", SALES), found("cy", IT)],
        MAPPING,
        MANAGED,
    )
    assert moves(the_plan) == {"ann": IT}
    assert (the_plan.counts.move, the_plan.counts.unchanged) == (1, 2)  # each record once


def test_a_move_comes_with_the_update_of_the_same_object() -> None:
    the_plan = plan([source("ann", IT, "new@x")], [found("ann", SALES)], MAPPING, MANAGED)
    assert [(c.action, c.container) for c in the_plan.changes] == [("update", None), ("move", IT)]


@pytest.mark.parametrize(
    ("record", "existing"),
    [
        (source("ann", None), found("ann", SALES)),  # the record names no container
        (source("ann", IT), found("ann", None)),  # the destination does not say
    ],
)
def test_nothing_moves_where_a_side_says_nothing(record: Record, existing: Record) -> None:
    assert moves(plan([record], [existing], MAPPING, MANAGED)) == {}


def test_objects_follow_their_container_only_where_the_job_updates_them() -> None:
    skipping = replace(MAPPING, on_both="skip")
    assert moves(plan([source("ann", IT)], [found("ann", SALES)], skipping, MANAGED)) == {}
    fixed = replace(MAPPING, container_from=None, container=IT)
    assert moves(plan([source("ann", IT)], [found("ann", SALES)], fixed, MANAGED)) == {}


def test_a_record_that_failed_never_gets_its_object_moved() -> None:
    """The runner holds the key of a record a transformation failed: it is not in the
    source the planner gets, and its object is neither moved nor taken for absent."""
    mapping = replace(MAPPING, on_destination_only="move", move_to="ou=Gone,dc=example,dc=org")
    the_plan = plan(
        [source("bob", IT)],
        [found("ann", SALES), found("bob", IT)],
        mapping,
        MANAGED,
        failed=[
            Failure(
                {"uid": "ann"},
                RecordError(key="ann", action="map", message="?"),
                {"uid": "ann"},
                "ann",
                "ann",
            )
        ],
    )
    assert the_plan.changes == [] and the_plan.counts.unchanged == 1


def test_an_object_back_after_an_absence_is_moved_back_once() -> None:
    gone = "ou=Gone,dc=example,dc=org"
    mapping = replace(MAPPING, on_destination_only="move", move_to=gone, restore=True)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    lifecycle = Lifecycle(absent_since={"ann": now}, now=now)
    the_plan = plan(
        [source("ann", IT)],
        [found("ann", gone)],
        mapping,
        MANAGED,
        lifecycle=lifecycle,
    )
    assert moves(the_plan) == {"ann": IT} and the_plan.counts.move == 1


def test_several_types_and_references_keep_the_moves() -> None:
    groups = ObjectMapping(type="group", keys=["cn"], fields=[FieldMap(to="cn")])
    manager = FieldMap(to="manager", resolve=Resolve(type="user", by="uid"))
    users = replace(MAPPING, fields=[*MAPPING.fields, manager])
    types = [
        ObjectType(
            users,
            [source("ann", IT), {**source("bob", SALES), "manager": "ann"}],
            [found("ann", SALES), found("bob", SALES)],
            ("uid", "mail", "manager"),
        ),
        ObjectType(groups, [{"cn": "g1"}], [{"cn": "g1"}], ("cn",)),
    ]
    the_plan, errors = plan_objects(types)
    assert errors == [] and moves(the_plan) == {"ann": IT}
    assert the_plan.counts.move == 1


def test_following_containers_asks_the_destination_to_move() -> None:
    named = [FieldMap(to="cn"), FieldMap(to="sn")]
    job = Job(
        id="j",
        source=Endpoint(connection="hr", file="people.csv"),
        destination=Endpoint(connection="dir", container="dc=example,dc=org"),
        objects=[replace(MAPPING, fields=[*MAPPING.fields, *named])],
    )
    assert ("move", "user", "$.objects[0].container_from") in asked_actions(job)
    connections: dict[str, Connection] = {
        "hr": CsvConnection(id="hr", directory="/srv/hr"),
        "dir": LdapConnection(
            id="dir", urls=["ldaps://ldap.example.org"], bind_dn="cn=idsync", password=SECRET
        ),
        "db": SqliteConnection(id="db", path="/srv/people.db"),
    }
    check_job(job, connections, FACTS)  # a directory can move
    into_a_table = replace(job, destination=Endpoint(connection="db", table="people"))
    with pytest.raises(BadInput, match=r"container_from: destination db \(sqlite\) cannot move"):
        check_job(into_a_table, connections, FACTS)


def lean(source_records: list[Record], destination: list[Record], absent: bool) -> Plan:
    index = DigestIndex(LEAN, LEAN_MANAGED)
    for record in destination:
        index.add_destination(record)
    kept = [record for record in source_records if index.keep_source(record)]
    needed = [r for r in destination if index.destination_needed(r, absent=absent)]
    the_plan = plan(
        kept,
        needed,
        LEAN,
        LEAN_MANAGED,
        act_on_absence=absent,
        taken=index.taken,
        keyed_elsewhere=index.unchanged,
    )
    the_plan.counts.unchanged += index.unchanged
    return the_plan


LEAN = ObjectMapping(
    keys=["uid"],
    container_from="ou",
    on_destination_only="delete",
    fields=[FieldMap(to="uid"), FieldMap(to="mail")],
)
LEAN_MANAGED = ("uid", "mail")
places = st.sampled_from([None, SALES, "OU=sales , dc=Example,dc=org", IT, "Sales"])
records = st.builds(
    lambda uid, mail, where: source(uid, where, mail),
    uid=st.sampled_from(["u1", "u2", "u3", "u4"]),
    mail=st.sampled_from(["a", "b"]),
    where=places,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(records, max_size=6), st.lists(records, max_size=6), st.booleans())
def test_the_lean_planner_moves_as_the_planner_does(
    source_records: list[Record], destination: list[Record], absent: bool
) -> None:
    try:
        expected = plan(source_records, destination, LEAN, LEAN_MANAGED, act_on_absence=absent)
    except BadInput as refused:
        with pytest.raises(type(refused)):
            lean(source_records, destination, absent)
        return
    got = lean(source_records, destination, absent)
    assert got.changes == expected.changes and got.hash == expected.hash
    assert got.counts == expected.counts
