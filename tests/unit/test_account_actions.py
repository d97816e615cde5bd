"""Disable and enable are for accounts: a job of users and groups (or contacts) on Active
Directory, Entra ID or a SCIM service may disable its users, and is refused when it is
applied for asking to disable (or, restoring, to enable) its groups — each of which would
otherwise fail in every run, its absence never kept, its delete_after never reached."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from core.checks.job import check_job
from core.errors import BadInput
from schemas.connections import Connection
from schemas.jobs import Job
from services.providers import FACTS

CONNECTIONS: dict[str, Connection] = {
    c.id: c
    for c in msgspec.convert(
        [
            {"provider": "csv", "id": "hr", "directory": "/srv/hr"},
            {
                "provider": "scim",
                "id": "scim",
                "url": "https://scim.example.org/v2",
                "token": {"env": "TOKEN"},
            },
            {
                "provider": "entra",
                "id": "entra",
                "tenant": "example.org",
                "client_id": "app",
                "secret": {"env": "SECRET"},
            },
            {
                "provider": "ad",
                "id": "ad",
                "urls": ["ldaps://dc.example.org"],
                "bind_dn": "svc@EXAMPLE.ORG",
                "password": {"env": "PASSWORD"},
            },
        ],
        list[Connection],
    )
}
GROUPS = {  # how each destination's side is narrowed to groups (or contacts)
    "scim": {"object_classes": ["Group"]},
    "entra": {"object_classes": ["group"]},
    "ad": {"object_classes": ["group"]},
}


SIDES: dict[str, dict[str, str]] = {
    "scim": {},
    "entra": {},
    "ad": {"container": "DC=example,DC=org"},
}


def job(destination: str, others: dict[str, Any], kind: str = "group") -> Job:
    users = {"type": "user", "keys": ["id"], "on_destination_only": "disable", "restore": True}
    groups = {"type": kind, "keys": ["name"], "source": {"file": "groups.csv"}, **others}
    scope = GROUPS[destination] if kind == "group" else {"object_classes": ["contact"]}
    return msgspec.convert(
        {
            "id": "people",
            "source": {"connection": "hr", "file": "people.csv"},
            "destination": {"connection": destination, **SIDES[destination]},
            "objects": [users, {**groups, "destination": scope}],
        },
        Job,
    )


def problems(the_job: Job) -> list[str]:
    try:
        check_job(the_job, CONNECTIONS, FACTS)
    except BadInput as refused:
        return str(refused).splitlines()
    return []


@pytest.mark.parametrize("destination", ["scim", "entra", "ad"])
def test_users_may_be_disabled_and_restored_beside_groups_left_alone(destination: str) -> None:
    assert problems(job(destination, {"on_destination_only": "delete"})) == []


@pytest.mark.parametrize("destination", ["scim", "entra", "ad"])
def test_groups_disabled_for_absence_are_refused(destination: str) -> None:
    (problem,) = problems(job(destination, {"on_destination_only": "disable"}))
    assert "$.objects[1].on_destination_only" in problem
    assert "cannot disable a group: only an account can be disabled" in problem
    assert "; choose delete or" in problem, problem


@pytest.mark.parametrize("destination", ["scim", "entra", "ad"])
def test_groups_disabled_as_leavers_or_restored_are_refused(destination: str) -> None:
    leavers = {"when": {"field": "status", "equals": "left"}, "action": "disable"}
    found = problems(job(destination, {"leavers": leavers, "restore": True}))
    assert any("$.objects[1].leavers.action" in p and "cannot disable" in p for p in found)
    assert any("$.objects[1].restore" in p and "cannot enable" in p for p in found), found


def test_ad_contacts_are_no_accounts_either() -> None:
    (problem,) = problems(job("ad", {"on_destination_only": "disable"}, kind="contact"))
    assert "cannot disable a contact" in problem
