"""A SCIM source's records hold each attribute the job reads under the name the job gives
it: attribute names compare without case (RFC 7643), and a service answers in its own
spelling. Read under that spelling alone, a `where` on "Active" held for no user (every
object in scope taken for absent) and a field mapped from "name.givenname" was empty in
every record."""

from __future__ import annotations

from pathlib import Path

from schemas.connections import ScimConnection, SecretRef, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping
from services.runner.planning.reading import Reading
from tests.scim_server import TOKEN, client

from .test_scoped_reads import plan_between, table


async def test_attributes_named_in_another_case_than_the_service_spells_them_are_read(
    scim_url: str, tmp_path: Path
) -> None:
    with client(scim_url) as http:
        for name, given, active in (
            ("ada", "Ada", True),
            ("bob", "Bob", True),
            ("cyd", "Cyd", False),
        ):
            user = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": name,
                "name": {"givenName": given},
                "active": active,
            }
            assert http.post("/Users", json=user).status_code == 201
    rows = [("ada", "Ada"), ("bob", "Bob"), ("zed", "Zed")]
    table(tmp_path / "db.sqlite", "people", ["id", "name"], rows)
    (tmp_path / "token").write_text(TOKEN + "\n")
    source = ScimConnection(id="hr", url=scim_url, token=SecretRef(file=str(tmp_path / "token")))
    target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))
    the_job = Job(
        id="people",
        source=Endpoint(connection="hr", where={"field": "Active", "equals": "true"}),
        destination=Endpoint(connection="db", table="people"),
        objects=[
            ObjectMapping(
                keys=["id"],
                fields=[
                    FieldMap(to="id", from_="userName"),
                    FieldMap(to="name", from_="name.givenname"),
                ],
                on_destination_only="delete",
            )
        ],
    )

    planned = await plan_between(source, target, the_job, None, Reading())

    assert sorted(f"{c.action} {c.key}" for c in planned.plan.changes) == ["delete zed"]
    assert planned.plan.warnings == []
