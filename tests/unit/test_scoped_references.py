"""A run that reads some people's records only (scoped to their keys; an incremental run
alike) leaves the groups and the people it does not read naming those people (members,
managers) as a whole run on the same data does: renamed (a new `cn`, the naming
attribute), moved (another container), moved away or deleted as leavers — whatever the
members' policy and placeholder. Planned with `plan_objects`; what the plans leave
compared with a plain simulation of the fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from core.engine.lifecycle import LEAVER_FIELD
from core.engine.objects import ObjectType, plan_objects
from core.engine.planned_state import ID_FIELD
from schemas.jobs import FieldMap, Leavers, ObjectMapping, Resolve
from schemas.plan import Change
from schemas.values import Record

PEOPLE = ["u0", "u1", "u2", "u3"]
PLACES = ["ou=A", "ou=B"]
NOBODY = "cn=nobody"
USERS_MANAGED = ["uid", "cn", "manager"]


def people(leaving: str) -> ObjectMapping:
    return ObjectMapping(
        type="user",
        keys=["uid"],
        container_from="ou",
        fields=[
            FieldMap(to="uid"),
            FieldMap(to="cn"),
            FieldMap(to="manager", resolve=Resolve(type="user", by="uid")),
        ],
        leavers=Leavers(
            when={"field": "status", "equals": "left"},
            action="delete" if leaving == "delete" else "move",
            move_to="ou=Former",
        ),
    )


def groups(policy: str, placeholder: str | None) -> ObjectMapping:
    member = FieldMap(
        to="member",
        delimiter="|",
        policy=policy,  # type: ignore[arg-type]
        resolve=Resolve(type="user", by="uid", placeholder=placeholder),
    )
    return ObjectMapping(type="group", keys=["cn"], fields=[FieldMap(to="cn"), member])


def identify(change: Change) -> str:
    return f"cn={change.set.get('cn')},{change.container or PLACES[0]}"


def rename(change: Change, name: str) -> str | None:
    naming, _, parent = name.partition(",")
    if change.action == "move":
        return f"{naming},{change.container}"
    cn = change.set.get("cn")
    return f"cn={cn},{parent}" if change.action == "update" and isinstance(cn, str) else None


def entry(uid: str, cn: str, place: str) -> Record:
    return {"uid": uid, "cn": cn, "@container": place, ID_FIELD: f"cn={cn},{place}"}


@st.composite
def cases(
    draw: st.DrawFn,
) -> tuple[ObjectMapping, ObjectMapping, list[Record], list[Record], list[Record], list[str]]:
    leaving = draw(st.sampled_from(["delete", "move"]))
    policy = draw(st.sampled_from(["force", "merge", "keep"]))
    placeholder = draw(st.sampled_from([None, NOBODY]))
    there = [entry(uid, f"C{uid}", draw(st.sampled_from(PLACES))) for uid in PEOPLE]
    for found in there:  # each one's manager, if any: another one
        others = [str(e[ID_FIELD]) for e in there if e is not found]
        boss = draw(st.sampled_from([None, *others]))
        if boss is not None:
            found["manager"] = boss
    scope = draw(st.lists(st.sampled_from(PEOPLE), unique=True, min_size=1))
    source: list[Record] = []
    for found in there:
        record: Record = {"uid": found["uid"], "cn": found["cn"], "@container": found["@container"]}
        boss = next((str(e["uid"]) for e in there if e[ID_FIELD] == found.get("manager")), None)
        if boss is not None:
            record["manager"] = boss
        if found["uid"] in scope:  # what changed: only the people the run reads
            if draw(st.booleans()):
                record["cn"] = f"N{found['uid']}"
            if draw(st.booleans()):
                record["@container"] = draw(st.sampled_from(PLACES))
            if draw(st.booleans()):
                record[LEAVER_FIELD] = "yes"
        source.append(record)
    teams: list[Record] = []
    for n in range(3):
        dns = [str(e[ID_FIELD]) for e in there]
        members = draw(st.lists(st.sampled_from(dns), unique=True, max_size=3))
        names = members or ([placeholder] if placeholder else [])
        team: Record = {"cn": f"g{n}"}
        if names:
            team["member"] = names
        teams.append(team)
    return people(leaving), groups(policy, placeholder), there, source, teams, scope


def group_records(teams: list[Record], there: list[Record]) -> list[Record]:
    """The groups' source records: the same members, named by uid."""
    uid_of = {str(e[ID_FIELD]): str(e["uid"]) for e in there}
    out: list[Record] = []
    for team in teams:
        names = team.get("member")
        uids = [uid_of[n] for n in names if n in uid_of] if isinstance(names, list) else []
        out.append({"cn": team["cn"], "member": uids})
    return out


def applied(
    objects: list[Record], changes: Sequence[Change], kind: str, key: str, field: str
) -> dict[str, list[str]]:
    """Each object's `field` (a group's members, a person's manager) once the plan's
    changes of its kind are applied; a deleted one's is gone."""
    held: dict[str, list[str]] = {}
    for found in objects:
        names = found.get(field)
        held[str(found[key])] = (
            [names] if isinstance(names, str) else list(cast(list[str], names or []))
        )
    for change in changes:
        if change.object_type != kind:
            continue
        if change.action == "delete":
            held.pop(change.key, None)
            continue
        now = held.setdefault(change.key, [])
        if field in change.clear:
            now.clear()
        if field in change.set:
            value = change.set[field]
            now[:] = list(value) if isinstance(value, list) else [str(value)]
        gone = {v.casefold() for v in change.remove.get(field, [])}
        now[:] = [v for v in now if v.casefold() not in gone] + change.add.get(field, [])
    return {name: sorted(v.casefold() for v in values) for name, values in held.items()}


@settings(max_examples=300, deadline=None)
@given(cases(), st.booleans())
def test_a_scoped_run_leaves_the_groups_it_does_not_read_as_a_whole_run_does(
    case: tuple[ObjectMapping, ObjectMapping, list[Record], list[Record], list[Record], list[str]],
    edits: bool,
) -> None:
    """`edits`: groups whose members change by values added and removed (a directory),
    else written whole (a list in one column)."""
    users, teams_mapping, there, source, teams, scope = case
    managed = ["cn", "member"]
    whole_users = ObjectType(users, source, there, USERS_MANAGED, identify, rename=rename)
    whole_groups = ObjectType(
        teams_mapping, group_records(teams, there), teams, managed, identify, edits=edits
    )
    whole, _ = plan_objects([whole_users, whole_groups], act_on_absence=False)

    inside = [r for r in source if r["uid"] in scope]
    found = [r for r in there if r["uid"] in scope]
    scoped_users = ObjectType(
        users, inside, found, USERS_MANAGED, identify, everything=there, rename=rename
    )
    outside = ObjectType(teams_mapping, [], [], managed, identify, everything=teams, edits=edits)
    scoped, _ = plan_objects([scoped_users, outside], act_on_absence=False, scoped=True)

    assert [c for c in scoped.changes if c.key in scope] == [
        c for c in whole.changes if c.key in scope
    ]
    for objects, kind, key, field in [
        (teams, "group", "cn", "member"),
        (there, "user", "uid", "manager"),
    ]:
        assert applied(objects, scoped.changes, kind, key, field) == applied(
            objects, whole.changes, kind, key, field
        ), field
