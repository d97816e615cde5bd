"""Complex SCIM attributes written into a user that holds more than the job maps (a home
address beside the work one, a street beside the city), through PATCH and through a
service without PATCH (whole PUTs): each change touches the item it names and keeps the
others, a cleared value removes its item alone, and a run after each plans nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.connections import ScimConnection, SecretRef, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping
from tests.scim_server import TOKEN, ScimServer, client, resources

from .test_scoped_reads import applied, plan_between, table
from .test_sql_matrix_typed import shown

FIELDS = {
    "work": 'emails[type eq "work"].value',
    "mobile": 'phoneNumbers[type eq "mobile"].value',
    "city": 'addresses[type eq "work"].locality',
    "given": "name.givenName",
    "roles": "roles.value",
}


def the_job() -> Job:
    fields = [FieldMap(to="userName", from_="id")]
    fields += [
        FieldMap(to=to, from_=name, delimiter="|" if name == "roles" else None)
        for name, to in FIELDS.items()
    ]
    return Job(
        id="items",
        source=Endpoint(connection="hr", table="people"),
        destination=Endpoint(connection="scim"),
        objects=[ObjectMapping(keys=["userName"], fields=fields)],
    )


def seen(url: str) -> dict[str, Any]:
    [user] = resources(url)
    return {
        "emails": sorted((e.get("type"), e["value"]) for e in user.get("emails", [])),
        "phones": sorted((p.get("type"), p["value"]) for p in user.get("phoneNumbers", [])),
        "addresses": sorted(
            (a.get("type"), a.get("locality"), a.get("streetAddress"))
            for a in user.get("addresses", [])
        ),
        "name": user.get("name"),
        "roles": sorted(r["value"] for r in user.get("roles", [])),
    }


@pytest.mark.parametrize("service", ["patch", "put"])
async def test_items_the_job_does_not_map_are_kept(
    service: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: ScimServer = request.getfixturevalue(
        "scim_server" if service == "patch" else "scim_put_server"
    )
    url = server.new_tenant()
    with client(url) as http:
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [
                {"type": "home", "value": "ada@home.example"},
                {"type": "work", "value": "ada@old.example"},
            ],
            "phoneNumbers": [{"type": "work", "value": "+1 555"}],
            "addresses": [{"type": "work", "streetAddress": "1 Main St", "locality": "Oslo"}],
        }
        assert http.post("/Users", json=body).status_code == 201
    (tmp_path / "token").write_text(TOKEN + "\n")
    target = ScimConnection(id="scim", url=url, token=SecretRef(file=str(tmp_path / "token")))
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))

    async def step(row: dict[str, str]) -> dict[str, Any]:
        (tmp_path / "hr.db").unlink(missing_ok=True)
        table(tmp_path / "hr.db", "people", ["id", *FIELDS], [("ada", *row.values())])
        planned = await plan_between(source, target, the_job(), None)
        outcomes, _ = await applied(source, target, the_job(), planned.plan.changes)
        assert [o.error for o in outcomes] == [None] * len(outcomes), outcomes
        again = await plan_between(source, target, the_job(), None)
        assert shown(again) == [], (row, shown(again))
        return seen(url)

    row = {"work": "ada@new.example", "mobile": "+1 777", "city": "Bergen", "given": "Ada"}
    state = await step(row | {"roles": "staff|wiki"})
    assert state == {
        "emails": [("home", "ada@home.example"), ("work", "ada@new.example")],
        "phones": [("mobile", "+1 777"), ("work", "+1 555")],
        "addresses": [("work", "Bergen", "1 Main St")],
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "roles": ["staff", "wiki"],
    }
    state = await step(row | {"work": "", "mobile": "", "city": "", "roles": "wiki"})
    assert state["emails"] == [("home", "ada@home.example")], state
    assert state["phones"] == [("work", "+1 555")], state
    assert state["roles"] == ["wiki"], state
    assert state["name"] == {"givenName": "Ada", "familyName": "Lovelace"}, state
    state = await step(row | {"given": "", "roles": ""})
    assert state["name"] == {"familyName": "Lovelace"}, state
    assert state["emails"] == [("home", "ada@home.example"), ("work", "ada@new.example")], state
