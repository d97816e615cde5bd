"""What `idsync job apply` says about several object types and references."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from core.checks.job import check_job
from core.engine.report import rows
from core.errors import BadInput
from schemas.connections import Connection, CsvConnection, LdapConnection
from schemas.jobs import Job
from services.providers import FACTS

CONNECTIONS: dict[str, Connection] = {
    "hr": CsvConnection(id="hr", directory="/srv/hr"),
    "dir": LdapConnection(id="dir", urls=["ldap://ldap.example.org"]),
}
USERS = {
    "type": "user",
    "keys": ["uid"],
    "destination": {"object_classes": ["inetOrgPerson"]},
    "fields": [
        {"to": "uid"},
        {"to": "cn"},
        {"to": "sn"},
        {"to": "manager", "resolve": {"type": "user", "by": "uid"}},
    ],
}
GROUPS = {
    "type": "group",
    "keys": ["cn"],
    "source": {"file": "groups.csv"},
    "destination": {"object_classes": ["groupOfNames"]},
    "fields": [
        {"to": "cn"},
        {"to": "member", "delimiter": "|", "resolve": {"type": "user", "by": "uid"}},
    ],
}
BASE: dict[str, Any] = {
    "id": "people",
    "source": {"connection": "hr", "file": "people.csv"},
    "destination": {"connection": "dir", "container": "dc=example,dc=org"},
}


def problems(*objects: dict[str, Any]) -> list[str]:
    job = msgspec.convert({**BASE, "objects": list(objects)}, Job)
    try:
        check_job(job, CONNECTIONS, FACTS)
    except BadInput as error:
        return [line.removeprefix('job "people": ') for line in str(error).splitlines()]
    return []


def test_users_and_groups_each_with_their_own_records_pass() -> None:
    assert problems(USERS, GROUPS) == []


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (
            {**GROUPS, "source": None},
            "$.objects[1].source: expected this type's own records, such as source = "
            '{ file = "groups.csv" }, got the same source as $.objects[0]',
        ),
        (
            {**GROUPS, "destination": {"object_classes": ["inetOrgPerson"]}},
            "$.objects[1].destination: expected this type's own records, such as destination = "
            '{ object_classes = ["groupOfNames"] } or { query = "(objectClass=groupOfNames)" }, '
            "got the same destination as $.objects[0]",
        ),
        (
            {**GROUPS, "type": "user"},
            "$.objects[1].type: expected a type of its own, got 'user' as $.objects[0]",
        ),
        (
            {
                **GROUPS,
                "fields": [
                    {"to": "cn"},
                    {"to": "member", "resolve": {"type": "person", "by": "uid"}},
                ],
            },
            "$.objects[1].fields[1].resolve.type: expected the type of an [[objects]] entry "
            "('user', 'group'), got 'person'",
        ),
        (
            {
                **GROUPS,
                "fields": [
                    {"to": "cn"},
                    {"to": "member", "resolve": {"type": "user", "by": "mail"}},
                ],
            },
            "$.objects[1].fields[1].resolve.by: expected a key or a mapped field of 'user' "
            "(cn, manager, sn, uid), got 'mail'",
        ),
    ],
)
def test_what_is_refused_says_what_to_fix(groups: dict[str, Any], expected: str) -> None:
    assert expected in problems(USERS, groups)


def test_the_change_report_shows_members_added_and_removed() -> None:
    from schemas.plan import Change

    change = Change(
        action="update",
        key="staff",
        match={"cn": "staff"},
        add={"member": ["a", "b"]},
        remove={"member": ["c"]},
    )
    shown = [(r.field, r.old_value, r.new_value) for r in rows([change])]
    assert shown == [("member (added)", "", "a; b"), ("member (removed)", "c", "")]
