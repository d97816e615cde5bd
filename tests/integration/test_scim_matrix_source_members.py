"""A SCIM service's groups as a source: their members are the service's ids of its
users. Copied into another SCIM service, memberships follow when the users' ids are
copied too (into externalId) and members are resolved by it; a run after it plans
nothing, and a member added at the source is added at the destination."""

from __future__ import annotations

from pathlib import Path

from schemas.connections import ScimConnection, SecretRef
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, ObjectScope, Resolve
from tests.scim_server import TOKEN, ScimServer, client, resources

from .test_scim_matrix_redelivered import apply_twice
from .test_scoped_reads import plan_between
from .test_sql_matrix_typed import shown

USER = ["urn:ietf:params:scim:schemas:core:2.0:User"]
GROUP = ["urn:ietf:params:scim:schemas:core:2.0:Group"]


def the_job() -> Job:
    by = Resolve(type="user", by="externalId")
    return Job(
        id="mirror",
        source=Endpoint(connection="there"),
        destination=Endpoint(connection="here"),
        objects=[
            ObjectMapping(
                type="user",
                keys=["userName"],
                fields=[FieldMap(to="userName"), FieldMap(to="externalId", from_="id")],
            ),
            ObjectMapping(
                type="group",
                keys=["displayName"],
                source=ObjectScope(object_classes=["Group"]),
                destination=ObjectScope(object_classes=["Group"]),
                fields=[
                    FieldMap(to="displayName"),
                    FieldMap(to="members", delimiter="|", resolve=by),
                ],
            ),
        ],
    )


async def test_groups_of_one_scim_service_into_another(
    scim_server: ScimServer, tmp_path: Path
) -> None:
    there, here = scim_server.new_tenant(), scim_server.new_tenant()
    with client(there) as http:
        ids = {
            name: http.post("/Users", json={"schemas": USER, "userName": name}).json()["id"]
            for name in ("ada", "bob", "cyd")
        }
        body = {
            "schemas": GROUP,
            "displayName": "team",
            "members": [{"value": ids[n]} for n in ("ada", "bob")],
        }
        team = http.post("/Groups", json=body).json()["id"]
    (tmp_path / "token").write_text(TOKEN + "\n")
    token = SecretRef(file=str(tmp_path / "token"))
    source = ScimConnection(id="there", url=there, token=token)
    target = ScimConnection(id="here", url=here, token=token)

    def members() -> list[str]:
        names = {u["id"]: u["userName"] for u in resources(here)}
        [group] = resources(here, "/Groups")
        return sorted(names[m["value"]] for m in group.get("members", []))

    first = await plan_between(source, target, the_job(), None)
    assert not first.record_errors, first.record_errors
    await apply_twice(source, target, the_job(), first)
    assert members() == ["ada", "bob"]
    assert shown(await plan_between(source, target, the_job(), None)) == []
    with client(there) as http:
        patch = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": ids["cyd"]}]}],
        }
        assert http.patch(f"/Groups/{team}", json=patch).status_code in (200, 204)
    added = await plan_between(source, target, the_job(), None)
    await apply_twice(source, target, the_job(), added)
    assert members() == ["ada", "bob", "cyd"]
    assert shown(await plan_between(source, target, the_job(), None)) == []
