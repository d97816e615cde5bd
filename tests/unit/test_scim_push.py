"""A SCIM push read as records (services/scim_endpoint/push.py): a resource that says it
is no user — a group sent to /Users — is refused, never kept as a user named by its
externalId; a user that names no schema at all is taken, as lenient clients send them.
A user whose attributes are not of SCIM's shapes (`"name": "Ada"`, emails as texts, a
sub-attribute holding an object) is refused naming the attribute: read as it is, the
value would be no value, and the run would clear the field it feeds."""

from __future__ import annotations

import tomllib
from typing import Any

import msgspec
import pytest

from schemas.jobs import Job
from services.scim_endpoint.push import read_operations

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
JOB = """\
id = "crm-to-db"
source = { connection = "crm" }
destination = { connection = "db", table = "people" }

[[objects]]
keys = ["employee_id"]
fields = [{ to = "employee_id", from = "externalId" }, { to = "login", from = "userName" }]
"""


def job() -> Job:
    return msgspec.convert(tomllib.loads(JOB), Job)


def one(data: Any) -> tuple[int, str | None]:
    [op] = read_operations(job(), [("POST", "b1", "/Users", data)])
    return op.status, op.error


def test_a_group_sent_as_a_user_is_refused() -> None:
    status, error = one({"schemas": [GROUP], "externalId": "G1", "displayName": "Staff"})
    assert status == 400 and error is not None and GROUP in error, error


def test_a_user_with_its_schemas_or_none_is_taken() -> None:
    assert one({"schemas": [USER, ENTERPRISE], "externalId": "E1", "userName": "ada"}) == (
        202,
        None,
    )
    assert one({"externalId": "E2", "userName": "bob"}) == (202, None)


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"name": "Ada"}, "name:"),
        ({"name": {"givenName": {"first": "Ada"}}}, "name.givenName:"),
        ({"name": {"givenName": ["Ada"]}}, "name.givenName:"),
        ({"emails": "ada@example.org"}, "emails:"),
        ({"emails": ["ada@example.org"]}, "emails:"),
        ({"emails": [{"type": "work", "value": {"v": "ada@example.org"}}]}, "emails.value:"),
        ({ENTERPRISE: {"department": {"name": "Sales"}}}, f"{ENTERPRISE}:department:"),
    ],
)
def test_a_user_of_another_shape_is_refused_naming_the_attribute(
    data: dict[str, Any], named: str
) -> None:
    status, error = one({"schemas": [USER], "externalId": "E1", "userName": "ada", **data})
    assert status == 400 and error is not None and error.startswith(named), error


def test_scims_own_shapes_are_taken() -> None:
    user = {
        "schemas": [USER, ENTERPRISE],
        "externalId": "E1",
        "userName": "ada",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"type": "work", "value": "ada@example.org", "primary": True}],
        "phoneNumbers": [],
        "active": True,
        ENTERPRISE: {"department": "Sales", "manager": {"value": "E0", "displayName": "Boss"}},
    }
    assert one(user) == (202, None)
