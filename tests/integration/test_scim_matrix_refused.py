"""A create the SCIM service refuses because another user holds its userName (a job keyed
on externalId): that record fails alone, in SCIM's words, through /Bulk and without it;
the other user is left as it was (never taken over as "the user that exists already"),
and the rest of the batch is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.connections import ScimConnection, SecretRef, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping
from tests.scim_server import TOKEN, client, resources

from .test_scoped_reads import applied, plan_between, table
from .test_sql_matrix_typed import shown


def the_job() -> Job:
    return Job(
        id="refused",
        source=Endpoint(connection="hr", table="people"),
        destination=Endpoint(connection="scim"),
        objects=[
            ObjectMapping(
                keys=["externalId"],
                fields=[
                    FieldMap(to="externalId", from_="id"),
                    FieldMap(to="userName", from_="login"),
                    FieldMap(to="displayName", from_="name"),
                ],
            )
        ],
    )


@pytest.mark.parametrize("bulk", [True, False])
async def test_a_create_refused_for_a_taken_user_name_fails_alone(
    scim_url: str, tmp_path: Path, bulk: bool
) -> None:
    with client(scim_url) as http:
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "taken",
            "externalId": "X0",
            "displayName": "The first",
        }
        assert http.post("/Users", json=body).status_code == 201
    rows = [("X1", "taken", "Someone else"), ("X2", "free", "Free")]
    table(tmp_path / "hr.db", "people", ["id", "login", "name"], rows)
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    (tmp_path / "token").write_text(TOKEN + "\n")
    target = ScimConnection(
        id="scim", url=scim_url, token=SecretRef(file=str(tmp_path / "token")), bulk=bulk
    )
    planned = await plan_between(source, target, the_job(), None)
    assert [c.split(" ")[:2] for c in shown(planned)] == [["create", "X1"], ["create", "X2"]]
    outcomes, _ = await applied(source, target, the_job(), planned.plan.changes)
    errors = [o.error for o in outcomes]
    assert errors[1] is None, errors
    assert errors[0] is not None and "409" in errors[0], errors
    users = {
        u["userName"]: (u.get("externalId"), u.get("displayName")) for u in resources(scim_url)
    }
    assert users == {"taken": ("X0", "The first"), "free": ("X2", "Free")}
