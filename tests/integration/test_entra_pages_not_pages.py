"""An answer of Graph's that is no page of a collection (a gateway's page served with
200, an empty body) fails the read: taken as a page with no objects, it would end the
read there, and the users — or a group's members — not read would be taken for absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import BadInput
from schemas.plan import Change
from services.providers.base import Layout
from tests.graph_server import Tenant

from .entra_helpers import connection, side, user

USERS = Layout(keys=("employeeId",), fields=("employeeId", "displayName"))
GROUPS = Layout(keys=("displayName",), fields=("displayName", "members"))


async def test_a_page_of_users_that_is_no_page_fails_the_read(
    graph_tenant: Tenant, tmp_path: Path
) -> None:
    for key in ("E1", "E2", "E3"):
        user(graph_tenant, key)
    source = await side(connection(tmp_path, graph_tenant), USERS, write=False)
    graph_tenant.fault("GET", "users", 200, "", "<html>Service Unavailable</html>")
    try:
        with pytest.raises(BadInput, match=r"GET /users: .*no page of objects.*Service Unav"):
            [batch async for batch in source.read(100)]
    finally:
        await source.close()


async def test_a_page_of_members_that_is_no_page_fails_the_read(
    graph_tenant: Tenant, tmp_path: Path
) -> None:
    members = [user(graph_tenant, key)["userPrincipalName"] for key in ("E1", "E2")]
    groups = await side(connection(tmp_path, graph_tenant), GROUPS, object_classes=["group"])
    team = Change(
        action="create",
        key="Team",
        match={"displayName": "Team"},
        set={"displayName": "Team", "members": members},
        object_type="group",
    )
    try:
        assert [o.error for o in await groups.apply([team])] == [None]
        (group,) = graph_tenant.objects()["group"]
        graph_tenant.fault("GET", f"groups/{group['id']}/members", 200, "", "Gateway page")
        with pytest.raises(BadInput, match=r"members of group .*no page of objects.*Gateway"):
            [batch async for batch in groups.read(100)]
    finally:
        await groups.close()
