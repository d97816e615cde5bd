"""A SCIM destination keyed on the work address (`emails[type eq "work"].value`, which
SCIM compares without case: caseExact false in RFC 7643's User schema), the source
spelling a user's address in another case: the user is that record's, in every shape —
never a second user made beside it while the first is deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.connections import ScimConnection, SecretRef, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Safety
from tests.scim_server import TOKEN, client, resources

from .test_scoped_reads import applied, plan_between, table
from .test_sql_matrix_typed import SHAPES, shaped, shown

WORK = 'emails[type eq "work"].value'


def the_job(**more: object) -> Job:
    return Job(
        id="by-mail",
        source=Endpoint(connection="hr", table="people"),
        destination=Endpoint(connection="scim"),
        objects=[
            ObjectMapping(
                keys=[WORK],
                fields=[
                    FieldMap(to=WORK, from_="mail"),
                    FieldMap(to="userName", from_="login", create_only=True),
                    FieldMap(to="displayName", from_="name"),
                ],
                on_destination_only="delete",
                **more,  # type: ignore[arg-type]
            )
        ],
        safety=Safety(max_percent=100),
    )


@pytest.mark.parametrize("case_insensitive", [False, True])
async def test_an_address_in_another_case_is_the_users(
    scim_url: str, tmp_path: Path, case_insensitive: bool
) -> None:
    with client(scim_url) as http:
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada",
            "displayName": "Ada",
            "emails": [{"type": "work", "value": "ada@example.org"}],
        }
        assert http.post("/Users", json=body).status_code == 201
    table(
        tmp_path / "hr.db", "people", ["mail", "login", "name"], [("Ada@Example.org", "ada", "Ada")]
    )
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    (tmp_path / "token").write_text(TOKEN + "\n")
    target = ScimConnection(id="scim", url=scim_url, token=SecretRef(file=str(tmp_path / "token")))
    job = the_job(case_insensitive=case_insensitive)
    planned = {}
    for shape in SHAPES:
        with shaped(shape):
            planned[shape] = await plan_between(source, target, job, None)
    planned["keys"] = await plan_between(source, target, job, ["Ada@Example.org"])
    for shape, plan in planned.items():
        assert "delete" not in " ".join(shown(plan)), (shape, shown(plan))
    # A create, if planned, lands on the user the service finds by that address.
    outcomes, _ = await applied(source, target, job, planned["memory"].plan.changes)
    assert [o.error for o in outcomes] == [None] * len(outcomes), outcomes
    users = resources(scim_url)
    assert [(u["userName"], u["emails"][0]["value"]) for u in users] == [
        ("ada", "Ada@Example.org" if planned["memory"].plan.changes else "ada@example.org")
    ]
    for shape in SHAPES:
        with shaped(shape):
            assert shown(await plan_between(source, target, job, None)) == [], shape
