"""Roles: who holds which, what each command needs (a table of roles x commands), grants
that would lock everyone out, and jobs checked against their owners' policies (pure)."""

from __future__ import annotations

import pytest

from core import roles as rules
from core.checks.policy import holder_problems, policy_problems
from schemas.jobs import Endpoint, FieldMap, Job, Leavers, ObjectMapping, Safety
from schemas.roles import PERMISSIONS, HeldRole, Policy, Role, RoleEntry, SafetyCeiling


def granted(**grants: list[str]) -> dict[str, RoleEntry]:
    return {role.replace("_", "-"): RoleEntry(grantees=who) for role, who in grants.items()}


ENTRIES = granted(
    administrator=["root"],
    job_author=["ada", "group:authors"],
    operator=["otto"],
    approver=["appr"],
    auditor=["aud", "directory:ldap:cn=auditors,ou=groups,dc=example,dc=org"],
)

# Every command a person can send, and which built-in roles may send it. "own" means
# the person owns the job (lists it among its owners).
COMMANDS: dict[str, set[str]] = {
    "connection-apply": {"administrator"},
    "job-create": {"administrator", "job-author"},
    "job-edit-own": {"administrator", "job-author"},
    "job-edit-any": {"administrator"},
    "run-own": {"administrator", "job-author", "operator"},
    "run-any": {"administrator", "operator"},
    "preview": {"administrator", "job-author", "operator"},
    "approve": {"administrator", "approver"},
    "deadletter": {"administrator", "operator"},
    "history-own": {"administrator", "job-author", "operator", "approver", "auditor"},
    "history-any": {"administrator", "operator", "approver", "auditor"},
    "manage-roles": {"administrator"},
}
HOLDER = {
    "administrator": "root",
    "job-author": "ada",
    "operator": "otto",
    "approver": "appr",
    "auditor": "aud",
}


def test_every_command_is_in_the_table() -> None:
    assert set(COMMANDS) == set(rules.NEEDS)


@pytest.mark.parametrize("role", sorted(HOLDER))
@pytest.mark.parametrize("action", sorted(COMMANDS))
def test_each_role_may_send_exactly_its_commands(role: str, action: str) -> None:
    who = HOLDER[role]
    held = rules.roles_of(who, ENTRIES)
    assert [h.role for h in held] == [role]
    refused = rules.refusal(action, who, held, ENTRIES)
    if role in COMMANDS[action]:
        assert refused is None
    else:
        assert refused is not None
        assert refused.startswith(f"{who} may not ")
        assert f"their roles: {role}" in refused
        assert " or ".join(rules.NEEDS[action]) in refused


def test_a_person_without_roles_may_do_nothing_once_roles_are_in_force() -> None:
    assert rules.roles_of("nobody", ENTRIES) == []
    for action in COMMANDS:
        refused = rules.refusal(action, "nobody", [], ENTRIES)
        assert refused is not None and "their roles: none" in refused


def test_without_any_grant_everyone_keeps_every_permission() -> None:
    for entries in ({}, {"auditor": RoleEntry(grantees=[])}):
        held = rules.roles_of("dave", entries)
        assert held == [HeldRole(role="administrator", via="no roles defined")]
        assert rules.permissions_of(held, entries) == set(PERMISSIONS)
        assert all(rules.refusal(a, "dave", held, entries) is None for a in COMMANDS)


def test_roles_come_directly_through_groups_and_directory_groups() -> None:
    assert rules.roles_of("Bea", ENTRIES, groups=["authors"]) == [
        HeldRole(role="job-author", via="group:authors")
    ]
    members = {"directory:ldap:cn=auditors,ou=groups,dc=example,dc=org": ["bea"]}
    assert [h.role for h in rules.roles_of("BEA", ENTRIES, ["authors"], members)] == [
        "auditor",
        "job-author",
    ]
    assert rules.roles_of("ADA", ENTRIES)[0].via == "direct"  # casefolded


def test_a_custom_role_gives_its_permissions_and_a_redefined_builtin_its_new_ones() -> None:
    entries = {
        **ENTRIES,
        "runner-only": RoleEntry(
            role=Role(id="runner-only", permissions=["jobs.run-any"]), grantees=["rick"]
        ),
        "auditor": RoleEntry(
            role=Role(id="auditor", permissions=["history.view-own"]), grantees=["aud"]
        ),
    }
    assert rules.refusal("run-any", "rick", rules.roles_of("rick", entries), entries) is None
    held = rules.roles_of("aud", entries)
    assert rules.refusal("history-any", "aud", held, entries) is not None
    assert rules.refusal("history-own", "aud", held, entries) is None


@pytest.mark.parametrize(
    ("entries", "role", "grantee", "granting", "problem"),
    [
        ({}, "job-author", "ada", True, "grant administrator to someone first"),
        ({}, "administrator", "root", True, None),
        ({}, "no-such", "ada", True, "no role 'no-such'"),
        (granted(administrator=["root"]), "administrator", "root", False, "the last administrator"),
        (granted(administrator=["root", "ada"]), "administrator", "ROOT", False, None),
        (
            granted(administrator=["root"]),
            "auditor",
            "ada",
            False,
            "ada does not hold role auditor",
        ),
    ],
)
def test_grants_never_leave_the_server_without_an_administrator(
    entries: dict[str, RoleEntry], role: str, grantee: str, granting: bool, problem: str | None
) -> None:
    found = rules.grant_problem(role, grantee, entries, granting)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_the_administrator_role_cannot_be_narrowed() -> None:
    assert rules.role_problem(Role(id="administrator", permissions=["jobs.create"])) is not None
    assert rules.role_problem(Role(id="administrator", permissions=list(PERMISSIONS))) is None
    assert rules.role_problem(Role(id="Not A Slug")) is not None


def test_job_action_names_own_any_and_create() -> None:
    assert rules.job_action("ada", ["Ada"], True, "run-any") == "run-own"
    assert rules.job_action("ada", ["bob"], True, "run-any") == "run-any"
    assert rules.job_action("ada", [], False, "job-edit-any") == "job-create"
    assert rules.job_action("ada", ["ada"], True, "job-edit-any") == "job-edit-own"


def a_job(
    source: str = "hr",
    destination: str = "ldap",
    *,
    on_destination_only: str = "skip",
    fields: tuple[str, ...] = ("uid", "mail"),
    kind: str = "user",
    safety: Safety | None = None,
    leavers: Leavers | None = None,
) -> Job:
    return Job(
        id="j",
        source=Endpoint(connection=source),
        destination=Endpoint(connection=destination),
        objects=[
            ObjectMapping(
                keys=["uid"],
                type=kind,
                on_destination_only=on_destination_only,  # type: ignore[arg-type]
                fields=[FieldMap(to=f) for f in fields],
                leavers=leavers,
            )
        ],
        owners=["ada"],
        safety=safety or Safety(),
    )


@pytest.mark.parametrize(
    ("job", "policy", "broken"),
    [
        (a_job(), Policy(), []),
        (a_job(), Policy(sources=["hr*"], destinations=["ldap"]), []),
        (
            a_job("crm"),
            Policy(sources=["hr*"]),
            ["$.source.connection: crm is not among the sources"],
        ),
        (a_job(destination="ad"), Policy(destinations=[]), ["$.destination.connection: ad"]),
        (
            a_job(),
            Policy(object_types={"create": ["group"]}),
            ["$.objects[0].on_source_only: may not create objects of type user"],
        ),
        (
            a_job(on_destination_only="delete"),
            Policy(object_types={"delete": []}),
            ["may not delete objects of type user"],
        ),
        (a_job(on_destination_only="disable"), Policy(object_types={"delete": []}), []),
        (
            a_job(
                leavers=Leavers(
                    when={"field": "left", "equals": "yes"}, action="move", move_to="ou=x"
                )
            ),
            Policy(object_types={"move": ["group"]}),
            ["$.objects[0].leavers.action: may not move objects of type user"],
        ),
        (
            a_job(),
            Policy(attributes_deny=["MAIL"]),
            ["$.objects[0].fields[1].to: may not map destination field 'mail' (denied)"],
        ),
        (
            a_job(),
            Policy(attributes_allow=["uid", "cn"]),
            ["fields[1].to: may not map destination field 'mail' (allowed: uid, cn)"],
        ),
        (
            a_job(safety=Safety(max_count=900)),
            Policy(safety=SafetyCeiling(max_count=100)),
            ["$.safety.max_count: 900 is over the ceiling of 100"],
        ),
        (
            a_job(safety=Safety(max_percent=50)),
            Policy(safety=SafetyCeiling(max_percent=20)),
            ["$.safety.max_percent: 50 is over the ceiling of 20"],
        ),
        (
            a_job(safety=Safety(empty_source="allow")),
            Policy(safety=SafetyCeiling(allow_empty_source=False)),
            ["$.safety.empty_source"],
        ),
    ],
)
def test_a_job_against_a_policy(job: Job, policy: Policy, broken: list[str]) -> None:
    problems = policy_problems(job, policy)
    assert len(problems) == len(broken), problems
    for problem, expected in zip(problems, broken, strict=True):
        assert expected in problem


def test_a_holder_passes_when_one_of_their_job_roles_allows_the_job() -> None:
    narrow = Role(id="narrow", permissions=["jobs.create"], policy=Policy(sources=["hr"]))
    other = Role(id="other", permissions=["jobs.create"], policy=Policy(sources=["crm"]))
    free = Role(id="free", permissions=["jobs.run-own"])
    view = Role(id="view", permissions=["history.view-all"], policy=Policy(sources=[]))
    entries = {r.id: RoleEntry(role=r, grantees=["ada"]) for r in (narrow, other, free, view)}

    def problems(*roles: str) -> list[str]:
        held = [HeldRole(role=r, via="direct") for r in roles]
        return holder_problems(a_job("crm"), "ada", held, entries)

    assert problems("narrow", "other") == []  # other allows crm
    assert problems("narrow", "free") == []  # a job role without a policy: not limited
    assert problems("view") == []  # no job role: no policy to keep
    (only,) = problems("narrow", "view")
    assert only.endswith("(policy of role narrow, held by ada)")
    assert "$.source.connection: crm is not among the sources allowed (hr)" in only
