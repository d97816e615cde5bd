"""References resolved against the planned state: managers and group members."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import pytest

from core.engine.failures import Failure
from core.engine.lifecycle import LEAVER_FIELD
from core.engine.objects import ObjectType, plan_objects
from core.engine.phases import phase_of
from core.engine.planned_state import ID_FIELD
from schemas.jobs import FieldMap, Leavers, ObjectMapping, Resolve
from schemas.plan import Change, RecordError
from schemas.values import Record, Value

MANAGER = FieldMap(to="manager", resolve=Resolve(type="user", by="employeeNumber"))
USERS = ObjectMapping(
    type="user",
    keys=["uid"],
    fields=[FieldMap(to="uid"), FieldMap(to="employeeNumber"), FieldMap(to="cn"), MANAGER],
)


def groups(**resolve: str) -> ObjectMapping:
    member = FieldMap(to="member", delimiter="|", resolve=Resolve(type="user", by="uid", **resolve))  # type: ignore[arg-type]
    return ObjectMapping(type="group", keys=["cn"], fields=[FieldMap(to="cn"), member])


def dn(uid: str) -> str:
    return f"uid={uid},ou=People,dc=example,dc=org"


def user(uid: str, number: str, manager: str | None = None, *, existing: bool = False) -> Record:
    record: Record = {"uid": uid, "employeeNumber": number, "cn": uid.title()}
    if manager is not None:
        record["manager"] = manager
    if existing:
        record[ID_FIELD] = dn(uid)
    return record


def identify(change: Change) -> str:
    return dn(str(change.match["uid"]))


USERS_MANAGED = ["uid", "employeeNumber", "cn", "manager"]


def users_type(source: list[Record], destination: list[Record]) -> ObjectType:
    return ObjectType(USERS, source, destination, USERS_MANAGED, identify)


def group_type(
    mapping: ObjectMapping, source: list[Record], destination: list[Record]
) -> ObjectType:
    return ObjectType(mapping, source, destination, ["cn", "member"])


def members(value: Value) -> list[str]:
    assert isinstance(value, list), value
    return value


def only(changes: Sequence[Change], key: str, phase: str) -> Change:
    [found] = [c for c in changes if c.key == key and phase_of(c) == phase]
    return found


def test_a_manager_created_in_the_same_run_is_found_and_written_after_every_create() -> None:
    source = [user("boss", "E1"), user("ada", "E2", "E1"), user("bob", "E3", "E4")]
    destination = [user("old", "E4", existing=True)]
    planned, errors = plan_objects([users_type([*source, user("old", "E4")], destination)])
    assert errors == []
    ada = only(planned.changes, "ada", "objects")
    assert "manager" not in ada.set  # the boss does not exist before the objects phase
    assert only(planned.changes, "ada", "references").set == {"manager": dn("boss")}
    # bob's manager existed before the run: written with the create, no second change
    assert only(planned.changes, "bob", "objects").set["manager"] == dn("old")
    assert [c.key for c in planned.changes if phase_of(c) == "references"] == ["ada"]
    assert planned.counts.create == 3 and planned.counts.update == 0  # a follow-up counts once


def test_a_value_that_names_nothing_is_that_records_error_and_the_rest_applies() -> None:
    planned, errors = plan_objects([users_type([user("ada", "E2", "E9")], [])])
    assert [(e.key, e.action) for e in errors] == [("ada", "resolve")]
    assert "manager: no user with employeeNumber 'E9'" in errors[0].message
    assert only(planned.changes, "ada", "objects").set == {
        "uid": "ada",
        "employeeNumber": "E2",
        "cn": "Ada",
    }


def test_an_existing_manager_changes_in_the_references_phase() -> None:
    destination = [user("ada", "E2", dn("old"), existing=True), user("boss", "E1", existing=True)]
    source = [user("ada", "E2", "E1"), user("boss", "E1")]
    planned, errors = plan_objects([users_type(source, destination)])
    assert errors == []
    [change] = planned.changes
    assert (phase_of(change), change.set, change.before) == (
        "references",
        {"manager": dn("boss")},
        {"manager": dn("old")},
    )
    assert not change.follow_up and planned.counts.update == 1 and planned.counts.unchanged == 1


@pytest.mark.parametrize(
    ("members", "there", "add", "remove"),
    [
        (["u1", "u2", "u4"], ["u1", "u2", "u3"], ["u4"], ["u3"]),  # one in, one out
        (["u1", "u2"], ["u1", "u2"], None, None),  # nothing to do
        (["u1"], [], ["u1"], None),  # the first member
        (["u2", "u1"], ["U1", "u2"], None, None),  # DNs compare without regard to case
    ],
)
def test_members_change_by_adding_and_removing_values(
    members: list[str], there: list[str], add: list[str] | None, remove: list[str] | None
) -> None:
    people = [user(f"u{n}", f"E{n}", existing=True) for n in range(1, 5)]
    existing: Record = (
        {"cn": "staff", "member": [dn(u) for u in there]} if there else {"cn": "staff"}
    )
    types = [
        users_type([{k: v for k, v in p.items() if k != ID_FIELD} for p in people], people),
        group_type(groups(), [{"cn": "staff", "member": members}], [existing]),
    ]
    planned, errors = plan_objects(types)
    assert errors == []
    changes = [c for c in planned.changes if c.object_type == "group"]
    if add is None and remove is None:
        assert changes == [] and planned.counts.unchanged == 5
        return
    [change] = changes
    assert change.add == ({"member": [dn(u) for u in add]} if add else {})
    assert change.remove == ({"member": [dn(u) for u in remove]} if remove else {})
    assert change.set == {} and phase_of(change) == "references"


def test_a_member_that_does_not_exist_is_reported_and_not_created() -> None:
    types = [
        users_type([user("u1", "E1")], []),
        group_type(groups(), [{"cn": "staff", "member": ["u1", "ghost"]}], []),
    ]
    planned, errors = plan_objects(types)
    assert [e.message for e in errors] == [
        "member: no user with uid 'ghost' in the destination or this run"
    ]
    assert [c.key for c in planned.changes if c.action == "create"] == ["staff", "u1"]
    assert only(planned.changes, "staff", "references").add == {"member": [dn("u1")]}


def test_a_new_group_of_new_members_holds_the_placeholder_until_they_exist() -> None:
    types = [
        users_type([user("u1", "E1")], []),
        group_type(groups(placeholder="cn=nobody"), [{"cn": "staff", "member": ["u1"]}], []),
    ]
    planned, _ = plan_objects(types)
    assert only(planned.changes, "staff", "objects").set == {"cn": "staff", "member": ["cn=nobody"]}
    later = only(planned.changes, "staff", "references")
    assert (later.add, later.remove, later.follow_up) == (
        {"member": [dn("u1")]},
        {"member": ["cn=nobody"]},
        True,
    )
    phases = [phase_of(c) for c in planned.changes]
    assert phases == sorted(phases, key=["objects", "references"].index)  # all creates first


def test_a_group_with_no_member_that_resolves_is_skipped_when_the_job_says_so() -> None:
    types = [
        users_type([], []),
        group_type(groups(if_none="skip"), [{"cn": "empty", "member": ["ghost"]}], []),
    ]
    planned, errors = plan_objects(types)
    assert planned.changes == [] and planned.counts.skipped == 1
    assert [e.message.split(":")[0] for e in errors] == ["member", "member"]
    assert "skipped" in errors[1].message
    # The reasons are shown; the group counts as skipped, not failed.
    assert [(e.object_type, e.skipped) for e in errors] == [("group", False), ("group", True)]


def test_an_error_names_the_object_as_its_changes_do_and_only_objects_written() -> None:
    mapping = ObjectMapping(type="user", keys=["uid"], case_insensitive=True, fields=USERS.fields)
    destination = [user("Ada", "E2", existing=True), user("Bob", "E3", existing=True)]
    source = [user("ada", "E2", "E9"), user("bob", "E3", "E9")]
    _, errors = plan_objects([ObjectType(mapping, source, destination, USERS_MANAGED, identify)])
    assert [(e.object_type, e.key) for e in errors] == [("user", "Ada"), ("user", "Bob")]
    left_alone = msgspec.structs.replace(mapping, on_both="skip")
    types = [ObjectType(left_alone, source, destination, USERS_MANAGED, identify)]
    planned, errors = plan_objects(types)
    assert errors == [] and planned.counts.skipped == 2 and planned.changes == []


def test_a_deleted_object_is_not_found() -> None:
    deleting = ObjectMapping(
        type="user", keys=["uid"], on_destination_only="delete", fields=USERS.fields
    )
    destination = [user("gone", "E7", existing=True)]
    types = [
        ObjectType(
            deleting,
            [user("ada", "E2", "E7")],
            destination,
            ["uid", "employeeNumber", "cn"],
            identify,
        )
    ]
    _, errors = plan_objects(types)
    assert [e.key for e in errors] == ["ada"]


def test_a_destination_without_value_edits_gets_whole_lists() -> None:
    people = [user(f"u{n}", f"E{n}") for n in range(1, 4)]
    members = FieldMap(to="members", delimiter="|", resolve=Resolve(type="user", by="uid"))
    teams = ObjectMapping(type="group", keys=["cn"], fields=[FieldMap(to="cn"), members])
    types = [
        ObjectType(USERS, people, people, ["uid", "employeeNumber", "cn"]),
        ObjectType(
            teams,
            [{"cn": "staff", "members": ["u1", "u3"]}],
            [{"cn": "staff", "members": ["u1", "u2"]}],
            ["cn", "members"],
            edits=False,
        ),
    ]
    planned, errors = plan_objects(types)
    assert errors == []
    [change] = planned.changes
    assert (change.set, change.add, change.remove) == ({"members": ["u1", "u3"]}, {}, {})


def test_large_groups_change_in_parts_that_fit_a_batch() -> None:
    people = [user(f"u{n}", f"E{n}", existing=True) for n in range(4500)]
    sources = [{k: v for k, v in p.items() if k != ID_FIELD} for p in people]
    source: list[Record] = [
        {"cn": "new", "member": [f"u{n}" for n in range(4500)]},  # every member there already
        {"cn": "old", "member": [f"u{n}" for n in range(2500, 4500)]},
    ]
    existing: list[Record] = [{"cn": "old", "member": [dn(f"u{n}") for n in range(2500)]}]
    types = [users_type(sources, people), group_type(groups(), source, existing)]
    planned, errors = plan_objects(types)
    assert errors == []
    new = [c for c in planned.changes if c.key == "new"]
    assert [len(members(c.set.get("member", []))) for c in new] == [2000, 0, 0]
    assert [len(c.add.get("member", [])) for c in new] == [0, 2000, 500]
    old = [c for c in planned.changes if c.key == "old"]
    assert [(len(c.add.get("member", [])), len(c.remove.get("member", []))) for c in old] == [
        (2000, 0),
        (0, 2000),
        (0, 500),
    ]
    assert [c.follow_up for c in old] == [False, True, True]
    assert (planned.counts.create, planned.counts.update) == (1, 1)


def test_an_object_the_run_moves_is_named_where_it_goes() -> None:
    moving = ObjectMapping(
        type="user",
        keys=["uid"],
        on_destination_only="move",
        move_to="ou=Former",
        fields=USERS.fields,
    )

    def where(change: Change) -> str:
        return f"uid={change.match['uid']},{change.container or 'ou=People,dc=example,dc=org'}"

    destination = [user("gone", "E7", existing=True)]
    types = [ObjectType(moving, [user("ada", "E2", "E7")], destination, USERS_MANAGED, where)]
    planned, errors = plan_objects(types)
    assert errors == []
    # Named so only once the moves phase is done: written in the references phase, after
    # it (a directory such as AD refuses a DN naming no entry yet).
    assert "manager" not in only(planned.changes, "ada", "objects").set
    assert only(planned.changes, "ada", "references").set["manager"] == "uid=gone,ou=Former"


def test_an_object_renamed_and_moved_is_named_as_both_changes_leave_it() -> None:
    """An update of what names an object (an LDAP entry's naming attribute) renames it,
    and a move moves it: a member is named as both leave it, in whichever order."""
    following = ObjectMapping(
        type="user", keys=["uid"], container_from="ou", fields=USERS.fields, on_both="update"
    )

    def rename(change: Change, name: str) -> str | None:
        rdn, _, parent = name.partition(",")
        if change.action == "move":
            return f"{rdn},{change.container}"
        cn = change.set.get("cn")
        return f"cn={cn},{parent}" if isinstance(cn, str) else None

    existing = {**user("ada", "E2", existing=True), "@container": "ou=People,dc=example,dc=org"}
    existing[ID_FIELD] = "cn=Ada,ou=People,dc=example,dc=org"
    source = {**user("ada", "E2"), "cn": "Ada L", "@container": "ou=Staff,dc=example,dc=org"}
    users = ObjectType(following, [source], [existing], USERS_MANAGED, identify, rename=rename)
    team = group_type(groups(), [{"cn": "team", "member": "ada"}], [])
    planned, errors = plan_objects([users, team])
    assert errors == []
    [created, added] = [c for c in planned.changes if c.object_type == "group"]
    assert (created.action, phase_of(added)) == ("create", "references")
    assert "member" not in created.set
    assert members(added.add["member"]) == ["cn=Ada L,ou=Staff,dc=example,dc=org"]


def test_a_run_scoped_to_keys_renames_the_member_in_groups_outside_its_scope() -> None:
    """A run scoped to a user's key that moves the user: the groups naming the user (not
    in the run's scope) name it where it goes, their other members left alone — what a
    whole run on the same data does. A whole run has every group in its source."""
    following = ObjectMapping(
        type="user", keys=["uid"], container_from="ou", fields=USERS.fields, on_both="update"
    )

    def rename(change: Change, name: str) -> str | None:
        return f"{name.partition(',')[0]},{change.container}" if change.action == "move" else None

    there = {**user("ada", "E2", existing=True), "@container": "ou=People,dc=example,dc=org"}
    source = {**user("ada", "E2"), "@container": "ou=Staff,dc=example,dc=org"}
    team: Record = {"cn": "team", "member": [dn("bob"), dn("ada").upper()]}
    users = ObjectType(following, [source], [there], USERS_MANAGED, identify, rename=rename)
    groups_type = ObjectType(groups(), [], [], ["cn", "member"], everything=[team])
    planned, errors = plan_objects([users, groups_type], act_on_absence=False, scoped=True)
    assert errors == []
    [follow] = [c for c in planned.changes if c.object_type == "group"]
    assert (follow.key, follow.phase, follow.set) == ("team", "references", {})
    assert follow.remove == {"member": [dn("ada").upper()]}
    assert follow.add == {"member": ["uid=ada,ou=Staff,dc=example,dc=org"]}
    whole, _ = plan_objects([users, groups_type], act_on_absence=False)
    assert [c for c in whole.changes if c.object_type == "group"] == []


def test_a_run_scoped_to_a_managers_key_renames_the_manager_of_the_people_outside() -> None:
    following = ObjectMapping(
        type="user", keys=["uid"], container_from="ou", fields=USERS.fields, on_both="update"
    )

    def rename(change: Change, name: str) -> str | None:
        return f"{name.partition(',')[0]},{change.container}" if change.action == "move" else None

    boss = {**user("ada", "E2", existing=True), "@container": "ou=People,dc=example,dc=org"}
    staff = user("bob", "E3", dn("ada"), existing=True)
    source = {**user("ada", "E2"), "@container": "ou=Staff,dc=example,dc=org"}
    users = ObjectType(
        following,
        [source],
        [boss],
        USERS_MANAGED,
        identify,
        everything=[boss, staff],
        rename=rename,
    )
    planned, errors = plan_objects([users], act_on_absence=False, scoped=True)
    assert errors == []
    [follow] = [c for c in planned.changes if c.key == "bob"]
    assert (follow.phase, follow.set) == (
        "references",
        {"manager": "uid=ada,ou=Staff,dc=example,dc=org"},
    )


@pytest.mark.parametrize("policy", ["force", "merge", "keep"])
def test_a_run_scoped_to_a_new_users_key_adds_it_to_the_groups_outside_its_scope(
    policy: str,
) -> None:
    """The groups outside the scope whose source records name the new user get it as a
    member, as a whole run would write it — their other members left to a whole run; a
    `keep` field holding values is left alone, as a whole run leaves it."""
    bob = user("bob", "E3", existing=True)
    team: Record = {"cn": "team", "member": [dn("carl")]}
    wanted: Record = {"cn": "team", "member": ["ada", "bob", "carl"]}
    users = ObjectType(USERS, [user("ada", "E2")], [], USERS_MANAGED, identify, everything=[bob])
    mapping = msgspec.structs.replace(
        groups(),
        fields=[FieldMap(to="cn"), msgspec.structs.replace(groups().fields[1], policy=policy)],
    )
    groups_type = ObjectType(mapping, [], [], ["cn", "member"], everything=[team], outside=[wanted])
    planned, errors = plan_objects([users, groups_type], act_on_absence=False, scoped=True)
    assert errors == []
    added = [c for c in planned.changes if c.object_type == "group"]
    if policy == "keep":
        assert added == []
        return
    [follow] = added
    assert (follow.key, follow.phase, follow.add, follow.remove) == (
        "team",
        "references",
        {"member": [dn("ada")]},
        {},
    )
    assert planned.counts.update == 1 and planned.counts.create == 1


def test_a_run_scoped_to_a_leavers_key_clears_the_manager_of_the_people_outside() -> None:
    """A whole run deleting a manager clears the manager of those the manager had (a value
    naming an object the run deletes is let go); a run scoped to the manager's key too."""
    leaving = msgspec.structs.replace(
        USERS, leavers=Leavers(when={"field": "cn", "equals": "Ada"}, action="delete")
    )
    boss = user("ada", "E2", existing=True)
    staff = user("bob", "E3", dn("ada"), existing=True)
    left: Record = {**user("ada", "E2"), LEAVER_FIELD: "yes"}
    users = ObjectType(leaving, [left], [boss], USERS_MANAGED, identify, everything=[boss, staff])
    planned, errors = plan_objects([users], act_on_absence=False, scoped=True)
    assert errors == []
    assert [(c.key, c.action) for c in planned.changes if c.action == "delete"] == [
        ("ada", "delete")
    ]
    [follow] = [c for c in planned.changes if c.key == "bob"]
    assert (follow.phase, follow.set, follow.clear) == ("references", {}, ("manager",))
    whole = ObjectType(
        leaving, [left, user("bob", "E3", "E2")], [boss, staff], USERS_MANAGED, identify
    )
    planned, _ = plan_objects([whole], act_on_absence=False)
    [same] = [c for c in planned.changes if c.key == "bob"]
    assert (same.phase, same.set, same.clear) == ("references", {}, ("manager",))


def test_a_leaver_created_and_moved_at_once_is_named_where_it_goes() -> None:
    """A new leaver's object is created, then moved where leavers go (`new = "create"`,
    action `move`): a group naming it names it there, once the moves phase is done."""
    leaving = ObjectMapping(
        type="user",
        keys=["uid"],
        fields=USERS.fields,
        leavers=Leavers(
            when={"field": "cn", "equals": "Ada"}, action="move", move_to="ou=Former", new="create"
        ),
    )

    def rename(change: Change, name: str) -> str | None:
        return f"{name.partition(',')[0]},{change.container}" if change.action == "move" else None

    left: Record = {**user("ada", "E2"), LEAVER_FIELD: "yes"}
    users = ObjectType(leaving, [left], [], USERS_MANAGED, identify, rename=rename)
    team = group_type(groups(), [{"cn": "team", "member": "ada"}], [])
    planned, errors = plan_objects([users, team])
    assert errors == []
    assert [(c.action, c.container) for c in planned.changes if c.object_type == "user"] == [
        ("create", None),
        ("move", "ou=Former"),
    ]
    [added] = [c for c in planned.changes if c.object_type == "group" and c.add]
    assert phase_of(added) == "references"
    assert members(added.add["member"]) == ["uid=ada,ou=Former"]


def test_a_new_group_names_a_member_the_run_renames_once_renamed() -> None:
    """An update of what names an existing entry renames it in the objects phase, beside
    the creates: a new group names it by its new name only in the references phase, once
    the rename is done (a directory such as AD refuses a DN naming no entry yet)."""

    def rename(change: Change, name: str) -> str | None:
        cn = change.set.get("cn")
        if change.action != "update" or not isinstance(cn, str):
            return None
        return f"cn={cn},{name.partition(',')[2]}"

    there = {**user("ada", "E2", existing=True), ID_FIELD: "cn=Ada,ou=People,dc=example,dc=org"}
    users = ObjectType(
        USERS,
        [{**user("ada", "E2"), "cn": "Ada L"}],
        [there],
        USERS_MANAGED,
        identify,
        rename=rename,
    )
    team = group_type(groups(), [{"cn": "team", "member": "ada"}], [])
    planned, errors = plan_objects([users, team])
    assert errors == []
    [created, added] = [c for c in planned.changes if c.object_type == "group"]
    assert created.action == "create" and "member" not in created.set
    assert phase_of(added) == "references"
    assert members(added.add["member"]) == ["cn=Ada L,ou=People,dc=example,dc=org"]


def test_a_run_scoped_to_keys_leaves_alone_the_groups_a_job_does_not_update() -> None:
    """Groups the job never updates (`on_both = "skip"`): a whole run leaves their members
    as they are, so a run scoped to a member's key that moves the member does too."""
    following = ObjectMapping(
        type="user", keys=["uid"], container_from="ou", fields=USERS.fields, on_both="update"
    )

    def rename(change: Change, name: str) -> str | None:
        return f"{name.partition(',')[0]},{change.container}" if change.action == "move" else None

    there = {**user("ada", "E2", existing=True), "@container": "ou=People,dc=example,dc=org"}
    source = {**user("ada", "E2"), "@container": "ou=Staff,dc=example,dc=org"}
    team: Record = {"cn": "team", "member": [dn("ada")]}
    users = ObjectType(following, [source], [there], USERS_MANAGED, identify, rename=rename)
    kept = msgspec.structs.replace(groups(), on_both="skip")
    whole, _ = plan_objects(
        [users, ObjectType(kept, [{"cn": "team", "member": "ada"}], [team], ["cn", "member"])],
        act_on_absence=False,
    )
    assert [c for c in whole.changes if c.object_type == "group"] == []
    outside = ObjectType(kept, [], [], ["cn", "member"], everything=[team])
    planned, _ = plan_objects([users, outside], act_on_absence=False, scoped=True)
    assert [c for c in planned.changes if c.object_type == "group"] == []


def test_a_group_whose_record_failed_is_left_alone_by_a_run_that_did_not_read_it_whole() -> None:
    """An incremental run reads the team's changed record, which fails to map: the team
    is held as it is — as a whole run holds it —, its member not renamed either."""
    following = ObjectMapping(
        type="user", keys=["uid"], container_from="ou", fields=USERS.fields, on_both="update"
    )

    def rename(change: Change, name: str) -> str | None:
        return f"{name.partition(',')[0]},{change.container}" if change.action == "move" else None

    there = {**user("ada", "E2", existing=True), "@container": "ou=People,dc=example,dc=org"}
    source = {**user("ada", "E2"), "@container": "ou=Staff,dc=example,dc=org"}
    team: Record = {"cn": "team", "member": [dn("ada")]}
    users = ObjectType(following, [source], [there], USERS_MANAGED, identify, rename=rename)
    error = RecordError(key="team", action="map", message="title: no such value")
    failed = Failure({"group": "team"}, error, {"cn": "team"}, "team", "team")
    held = ObjectType(groups(), [], [team], ["cn", "member"], everything=[team], failed=[failed])
    whole, _ = plan_objects([users, held], act_on_absence=False)
    assert [c for c in whole.changes if c.object_type == "group"] == []
    planned, _ = plan_objects([users, held], act_on_absence=False, scoped=True)
    assert [c for c in planned.changes if c.object_type == "group"] == []


def test_a_large_group_outside_a_partial_run_follows_its_members_in_parts_that_fit_a_batch() -> (
    None
):
    """An incremental run moving 1,500 people (a reorganisation) renames 1,500 members of
    a group it does not read: 3,000 values removed and added, in changes of at most
    2,000 values each, the group counted once."""
    following = ObjectMapping(
        type="user", keys=["uid"], container_from="ou", fields=USERS.fields, on_both="update"
    )

    def rename(change: Change, name: str) -> str | None:
        return f"{name.partition(',')[0]},{change.container}" if change.action == "move" else None

    people = [f"p{n}" for n in range(1_500)]
    there = [
        {**user(uid, uid, existing=True), "@container": "ou=People,dc=example,dc=org"}
        for uid in people
    ]
    moved = [{**user(uid, uid), "@container": "ou=Staff,dc=example,dc=org"} for uid in people]
    everyone: Record = {"cn": "everyone", "member": [dn(uid) for uid in people]}
    users = ObjectType(following, moved, there, USERS_MANAGED, identify, rename=rename)
    outside = ObjectType(groups(), [], [], ["cn", "member"], everything=[everyone])
    planned, _ = plan_objects([users, outside], act_on_absence=False, scoped=True)
    parts = [c for c in planned.changes if c.object_type == "group"]
    sizes = [sum(map(len, (*c.add.values(), *c.remove.values()))) for c in parts]
    assert sizes == [2_000, 1_000]
    assert [c.follow_up for c in parts] == [False, True]
    assert planned.counts.update == 1


def test_a_person_skipped_for_a_manager_that_resolves_to_nothing_is_not_named_anew() -> None:
    """Managers resolved with `if_none = "skip"`: Ada's manager names nobody, so Ada is
    left alone — neither renamed nor created. Her group keeps naming her as she is, and a
    new group names no one the run does not create."""
    skipping = FieldMap(
        to="manager", resolve=Resolve(type="user", by="employeeNumber", if_none="skip")
    )
    people = msgspec.structs.replace(USERS, fields=[*USERS.fields[:3], skipping])

    def rename(change: Change, name: str) -> str | None:
        cn = change.set.get("cn")
        if change.action != "update" or not isinstance(cn, str):
            return None
        return f"cn={cn},{name.partition(',')[2]}"

    there = {**user("ada", "E2", existing=True), ID_FIELD: "cn=Ada,ou=People,dc=example,dc=org"}
    ada = {**user("ada", "E2", "E99"), "cn": "Ada L"}  # no E99: skipped
    eve = user("eve", "E5", "E99")  # new, skipped
    users = ObjectType(people, [ada, eve], [there], USERS_MANAGED, identify, rename=rename)
    team: Record = {"cn": "team", "member": ["cn=Ada,ou=People,dc=example,dc=org"]}
    teams = group_type(
        groups(), [{"cn": "team", "member": "ada"}, {"cn": "new", "member": ["eve", "ada"]}], [team]
    )
    planned, errors = plan_objects([users, teams])
    assert [c for c in planned.changes if c.object_type == "user"] == []
    assert [c.key for c in planned.changes if c.key == "team"] == []
    [new] = [c for c in planned.changes if c.key == "new"]
    assert (new.action, new.set["member"]) == ("create", ["cn=Ada,ou=People,dc=example,dc=org"])
    assert ("new", "member: no user with uid 'eve' in the destination or this run") in [
        (e.key, e.message) for e in errors
    ]
