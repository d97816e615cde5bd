"""A group's members when one of them cannot be named: Graph refused that user's create
(or it is not in the tenant), and the group is still written with every other member —
the one missing is the group's record error, never a reason to leave out the rest."""

from __future__ import annotations

from pathlib import Path

from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from tests.graph_server import Tenant

from .conftest import RunServices
from .entra_helpers import connection_toml
from .ldap_helpers import define
from .test_entra_jobs import write
from .test_ldap_jobs import run

RESOLVE = '{ type = "user", by = "employeeId" }'
JOB = f"""id = "hr-to-entra-groups"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "cloud" }}

[[objects]]
type = "user"
keys = ["employeeId"]
fields = [
  {{ to = "employeeId", from = "employee_id" }},
  {{ to = "userPrincipalName", from = "upn" }},
  {{ to = "displayName", from = "name" }},
]

[[objects]]
type = "group"
keys = ["displayName"]
source = {{ file = "groups.csv" }}
destination = {{ object_classes = ["group"] }}
fields = [
  {{ to = "displayName", from = "group" }},
  {{ to = "members", from = "members", delimiter = "|", resolve = {RESOLVE} }},
]
"""


def members(tenant: Tenant) -> dict[str, set[str]]:
    """Group → the employeeIds of its members, as the tenant holds them."""
    objects = tenant.objects()
    ids = {u["id"]: u["employeeId"] for u in objects["user"]}
    return {g["displayName"]: {ids[m] for m in g["_members"]} for g in objects["group"]}


async def test_a_member_graph_refused_leaves_the_groups_other_members_written(
    graph_tenant: Tenant, tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    connections = '[hr]\nprovider = "csv"\ndirectory = "data"\n\n'
    job = await define(session, folder, connections + connection_toml(folder, graph_tenant), JOB)
    domain = graph_tenant.domain
    people = [
        {"employee_id": "E1", "upn": f"e1@{domain}", "name": "One"},
        {"employee_id": "E2", "upn": "e2@not-a-verified-domain.example", "name": "Two"},
        {"employee_id": "E3", "upn": f"e3@{domain}", "name": "Three"},
    ]
    write(folder / "data" / "people.csv", people)
    write(folder / "data" / "groups.csv", [{"group": "Team", "members": "E1|E2|E3"}])
    async with services():
        first = await run(session, job)
        # E2's create is refused (its UPN's domain), and so Team cannot name it: Team is
        # written with E1 and E3, and its error says which member is missing.
        assert members(graph_tenant) == {"Team": {"E1", "E3"}}
        assert (first.stats.created, first.stats.failed) == (2, 2), first.stats

        people.append({"employee_id": "E4", "upn": f"e4@{domain}", "name": "Four"})
        write(folder / "data" / "people.csv", people)
        write(folder / "data" / "groups.csv", [{"group": "Team", "members": "E1|E2|E3|E4"}])
        second = await run(session, job)
        # E4 joins Team though E2 still cannot be named.
        assert members(graph_tenant) == {"Team": {"E1", "E3", "E4"}}
        assert second.stats.failed == 2, second.stats


async def test_a_group_nested_by_hand_is_left_as_it_is_and_the_users_are_managed(
    graph_tenant: Tenant, tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    connections = '[hr]\nprovider = "csv"\ndirectory = "data"\n\n'
    job = await define(session, folder, connections + connection_toml(folder, graph_tenant), JOB)
    domain = graph_tenant.domain
    people = [{"employee_id": f"E{n}", "upn": f"e{n}@{domain}", "name": f"P{n}"} for n in (1, 2)]
    write(folder / "data" / "people.csv", people)
    write(folder / "data" / "groups.csv", [{"group": "Team", "members": "E1|E2"}])
    async with services():
        await run(session, job)
        # Someone nests another group in Team. `members` holds users: the nested group is
        # neither read (which failed the run) nor taken out, run after run.
        team = next(g for g in graph_tenant.objects()["group"] if g["displayName"] == "Team")
        body = {"displayName": "Nested", "mailNickname": "nested", "mailEnabled": False}
        body["securityEnabled"] = True
        nested = graph_tenant.graph("POST", "groups", body)
        ref = {"@odata.id": f"{graph_tenant.server.url}/v1.0/directoryObjects/{nested['id']}"}
        graph_tenant.graph("POST", f"groups/{team['id']}/members/$ref", ref)
        write(folder / "data" / "groups.csv", [{"group": "Team", "members": "E2"}])
        changed = await run(session, job)
        assert changed.stats.updated == 1, changed.stats
        again = await run(session, job)
        assert again.stats.written == 0, again.stats
    team = next(g for g in graph_tenant.objects()["group"] if g["displayName"] == "Team")
    ids = {u["id"]: u["employeeId"] for u in graph_tenant.objects()["user"]}
    assert {ids.get(m, m) for m in team["_members"]} == {"E2", nested["id"]}


async def test_a_create_graph_made_though_it_answered_504_is_made_once(
    graph_tenant: Tenant, tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    connections = '[hr]\nprovider = "csv"\ndirectory = "data"\n\n'
    job = await define(session, folder, connections + connection_toml(folder, graph_tenant), JOB)
    domain = graph_tenant.domain
    people = [{"employee_id": f"E{n}", "upn": f"e{n}@{domain}", "name": f"P{n}"} for n in (1, 2)]
    write(folder / "data" / "people.csv", people)
    write(folder / "data" / "groups.csv", [{"group": "Team", "members": "E1|E2"}])
    # Graph makes the group (and a user), then its gateway answers 504: sent again, the
    # create would make a second Team, and no later run could change either (two groups,
    # one key); the user's would be refused, its name taken.
    for made in ("groups", "users"):
        graph_tenant.fault("POST", made, 504, "GatewayTimeout", "timed out", after=True)
    async with services():
        first = await run(session, job)
        assert first.stats.failed == 0, first.stats
        assert [g["displayName"] for g in graph_tenant.objects()["group"]] == ["Team"]
        assert sorted(graph_tenant.users("employeeId")) == ["E1", "E2"]
        assert members(graph_tenant) == {"Team": {"E1", "E2"}}
        again = await run(session, job)
        assert again.stats.written == 0, again.stats


BY_UPN = '{ type = "user", by = "userPrincipalName" }'
CASED_JOB = f"""id = "hr-to-entra-cased"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "cloud" }}

[[objects]]
type = "user"
keys = ["employeeId"]
fields = [
  {{ to = "employeeId", from = "employee_id" }},
  {{ to = "userPrincipalName", from = "upn" }},
  {{ to = "displayName", from = "name" }},
  {{ to = "manager", from = "boss", resolve = {BY_UPN} }},
]

[[objects]]
type = "group"
keys = ["displayName"]
source = {{ file = "groups.csv" }}
destination = {{ object_classes = ["group"] }}
fields = [
  {{ to = "displayName", from = "group" }},
  {{ to = "members", from = "members", delimiter = "|", resolve = {BY_UPN} }},
]
"""


def managers(tenant: Tenant) -> dict[str, str]:
    """employeeId → its manager's employeeId, as the tenant holds them."""
    users = tenant.users("employeeId")
    ids = {u["id"]: key for key, u in users.items()}
    return {key: ids[u["_manager"]] for key, u in users.items() if "_manager" in u}


async def test_members_and_managers_named_in_capitals_are_the_users_whose_upn_graph_holds_so(
    graph_tenant: Tenant, tmp_path: Path, session: Session, services: RunServices
) -> None:
    """Graph compares userPrincipalName without case: a member or a manager named
    'PERSON0@…' is the user 'person0@…', in a whole run and in a run of some keys,
    and a run after them writes nothing."""
    folder = tmp_path / "job"
    connections = '[hr]\nprovider = "csv"\ndirectory = "data"\n\n'
    job = await define(
        session, folder, connections + connection_toml(folder, graph_tenant), CASED_JOB
    )
    domain = graph_tenant.domain

    def person(i: int) -> dict[str, str]:
        boss = "" if i == 0 else f"PERSON0@{domain}".upper()
        return {
            "employee_id": f"E{i}",
            "upn": f"person{i}@{domain}",
            "name": f"P {i}",
            "boss": boss,
        }

    def team(count: int) -> list[dict[str, str]]:
        return [
            {
                "group": "Team",
                "members": "|".join(f"PERSON{i}@{domain}".upper() for i in range(count)),
            }
        ]

    people = [person(i) for i in range(3)]
    write(folder / "data" / "people.csv", people)
    write(folder / "data" / "groups.csv", team(3))
    async with services():
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (4, 0), first.stats
        assert members(graph_tenant) == {"Team": {"E0", "E1", "E2"}}
        assert managers(graph_tenant) == {"E1": "E0", "E2": "E0"}
        assert (await run(session, job)).stats.written == 0

        # A run of some keys: E3 is new, its manager and Team's new member named in capitals.
        people.append(person(3))
        write(folder / "data" / "people.csv", people)
        write(folder / "data" / "groups.csv", team(4))
        _, keyed = await follow_run(session, job, ["E3"])
        assert isinstance(keyed, RunFinished) and keyed.stats.failed == 0, keyed
        assert managers(graph_tenant)["E3"] == "E0"
        _, grouped = await follow_run(session, job, ["Team"])
        assert isinstance(grouped, RunFinished) and grouped.stats.failed == 0, grouped
        assert members(graph_tenant) == {"Team": {"E0", "E1", "E2", "E3"}}
        assert (await run(session, job)).stats.written == 0
