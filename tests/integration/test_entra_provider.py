"""The Entra provider against the tests' Graph, without the services: what Graph refuses
said per record with Graph's code and message, a bad secret said at once, an expired
token renewed, throttling and unavailability ridden out with no record lost or doubled,
a certificate instead of a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import BadInput
from schemas.connections import EntraLimits, SecretRef
from schemas.plan import Change
from schemas.values import Record
from services.providers import check_reachable
from services.providers.base import Layout
from tests.graph_server import Tenant
from tests.graph_server.tls import app_certificate

from .entra_helpers import connection, side, user

USERS = Layout(
    keys=("employeeId",), fields=("employeeId", "displayName", "userPrincipalName", "department")
)


def create(tenant: Tenant, key: str, **more: str) -> Change:
    values: Record = {
        "employeeId": key,
        "displayName": f"Person {key}",
        "userPrincipalName": f"{key.lower()}@{tenant.domain}",
        **more,
    }
    return Change(action="create", key=key, match={"employeeId": key}, set=values)


def update(key: str, **values: str) -> Change:
    return Change(action="update", key=key, match={"employeeId": key}, set=dict(values))


async def test_what_graph_refuses_is_that_records_error_in_words_with_graphs_code(
    graph_tenant: Tenant, tmp_path: Path
) -> None:
    user(graph_tenant, "E1")
    conn = connection(tmp_path, graph_tenant)
    destination = await side(conn, USERS)
    try:
        outcomes = await destination.apply(
            [
                create(graph_tenant, "E2", userPrincipalName="e2@elsewhere.example.com"),
                create(graph_tenant, "E3", favouriteColour="teal"),
                update("E4", department="Legal"),
                create(graph_tenant, "E5"),
            ]
        )
    finally:
        await destination.close()
    errors = [o.error for o in outcomes]
    assert errors[0] is not None and "not in one of the tenant's verified domains" in errors[0]
    assert "Request_BadRequest" in errors[0] and "create user E2" in errors[0]
    assert errors[1] is not None and "Property 'favouriteColour' does not exist" in errors[1]
    assert errors[2] == "update user E4: no user with this key in the tenant"
    assert errors[3] is None
    assert sorted(graph_tenant.users("employeeId")) == ["E1", "E5"]


async def test_a_missing_permission_a_401_a_404_and_a_500_are_each_a_sentence(
    graph_tenant: Tenant, tmp_path: Path
) -> None:
    user(graph_tenant, "E1")
    user(graph_tenant, "E2")
    reader = graph_tenant.app(roles=["User.Read.All"], secret="reader-Secret-1")
    (tmp_path / "reader").write_text("reader-Secret-1")
    weak = connection(
        tmp_path, graph_tenant, client_id=reader, secret=SecretRef(file=str(tmp_path / "reader"))
    )
    destination = await side(weak, USERS)
    try:
        (denied,) = await destination.apply([update("E1", department="Legal")])
    finally:
        await destination.close()
    assert denied.error is not None
    assert "grant it the application permission User.ReadWrite.All" in denied.error
    assert "403 Authorization_RequestDenied: Insufficient privileges" in denied.error

    conn = connection(tmp_path, graph_tenant)
    graph_tenant.fault(
        "PATCH", "users", 404, "Request_ResourceNotFound", "Resource 'x' does not exist."
    )
    graph_tenant.fault("POST", "users", 500, "InternalServerError", "Something went wrong.")
    graph_tenant.fault(
        "POST",
        "$batch",
        401,
        "InvalidAuthenticationToken",
        "Access token validation failure.",
        times=2,
    )
    destination = await side(conn, USERS)
    try:
        (unauthorized,) = await destination.apply([update("E2", department="Legal")])
        gone, failed = await destination.apply(
            [update("E1", department="Legal"), create(graph_tenant, "E9")]
        )
    finally:
        await destination.close()
    assert unauthorized.error is not None
    assert "Graph refused the app's token (401 InvalidAuthenticationToken" in unauthorized.error
    assert (
        gone.error is not None
        and "not found in the tenant (404 Request_ResourceNotFound" in gone.error
    )
    assert (
        failed.error is not None
        and "Graph failed on its side (500 InternalServerError: Something went wrong.)"
        in failed.error
    )


async def test_reading_without_permission_fails_the_run_saying_what_to_grant(
    graph_tenant: Tenant, tmp_path: Path
) -> None:
    nobody = graph_tenant.app(roles=[], secret="no-Roles-at-all-1")
    (tmp_path / "nobody").write_text("no-Roles-at-all-1")
    conn = connection(
        tmp_path, graph_tenant, client_id=nobody, secret=SecretRef(file=str(tmp_path / "nobody"))
    )
    source = await side(conn, USERS, write=False)
    try:
        with pytest.raises(BadInput, match="Authorization_RequestDenied"):
            [r async for batch in source.read(100) for r in batch]
    finally:
        await source.close()


async def test_connection_test_says_a_bad_secret_and_names_what_was_granted(
    graph_tenant: Tenant, tmp_path: Path
) -> None:
    good = connection(tmp_path, graph_tenant)
    said = await check_reachable(good)
    assert "signed in as app" in said and "User.ReadWrite.All" in said
    (tmp_path / "wrong").write_text("not-the-secret")
    wrong = connection(
        tmp_path, graph_tenant, id="wrong", secret=SecretRef(file=str(tmp_path / "wrong"))
    )
    with pytest.raises(BadInput, match="the client secret is wrong") as refused:
        await check_reachable(wrong)
    assert "AADSTS7000215" in str(refused.value) and "not-the-secret" not in str(refused.value)
    missing = connection(tmp_path, graph_tenant, id="gone", tenant="nowhere.example.org")
    with pytest.raises(BadInput, match="no such tenant"):
        await check_reachable(missing)


async def test_a_certificate_signs_the_app_in(graph_tenant: Tenant, tmp_path: Path) -> None:
    pem, public = app_certificate(tmp_path, "idsync-app")
    client = graph_tenant.app(certificate=public)
    conn = connection(
        tmp_path, graph_tenant, client_id=client, secret=None, certificate=SecretRef(file=str(pem))
    )
    assert "signed in as app" in await check_reachable(conn)
    other, _ = app_certificate(tmp_path, "someone-else")
    wrong = connection(
        tmp_path,
        graph_tenant,
        id="other",
        client_id=client,
        secret=None,
        certificate=SecretRef(file=str(other)),
    )
    with pytest.raises(BadInput, match="the certificate was refused"):
        await check_reachable(wrong)


async def test_an_expired_token_is_renewed_and_the_write_goes_on(
    graph_tenant: Tenant, tmp_path: Path
) -> None:
    user(graph_tenant, "E1")
    conn = connection(tmp_path, graph_tenant)
    destination = await side(conn, USERS)
    try:
        graph_tenant.admin("POST", "expire-tokens")
        (outcome,) = await destination.apply([update("E1", department="Legal")])
    finally:
        await destination.close()
    assert outcome.error is None
    assert graph_tenant.users("employeeId")["E1"]["department"] == "Legal"


async def test_throttled_and_unavailable_graph_every_record_written_once(
    graph_tenant: Tenant, tmp_path: Path
) -> None:
    """Graph allows 10 writes a second here, the client would send 200: Graph's 429s and
    their Retry-After pace it; two 503s and a 504 are tried again."""
    graph_tenant.throttle(writes=(10, 1, 5))
    graph_tenant.fault(
        "POST", "users", 503, "ServiceUnavailable", "Try again.", times=2, retry_after=0
    )
    graph_tenant.fault("POST", "$batch", 504, "GatewayTimeout", "Took too long.", times=1)
    limits = EntraLimits(writes_per_second=200, requests_per_second=1000, attempts=30)
    conn = connection(tmp_path, graph_tenant, limits=limits)
    destination = await side(conn, USERS)
    changes = [create(graph_tenant, f"E{i:03d}") for i in range(60)]
    try:
        outcomes = await destination.apply(changes)
    finally:
        await destination.close()
    assert [o.error for o in outcomes] == [None] * 60
    found = graph_tenant.objects()["user"]
    assert sorted(u["employeeId"] for u in found) == [f"E{i:03d}" for i in range(60)]
    assert graph_tenant.stats()["throttled"] > 0


async def test_a_record_still_throttled_after_every_try_says_so(
    graph_tenant: Tenant, tmp_path: Path
) -> None:
    graph_tenant.fault(
        "POST",
        "users",
        429,
        "TooManyRequests",
        "Please retry again later.",
        times=50,
        retry_after=0,
    )
    conn = connection(tmp_path, graph_tenant, limits=EntraLimits(attempts=3))
    destination = await side(conn, USERS)
    try:
        (outcome,) = await destination.apply([create(graph_tenant, "E1")])
    finally:
        await destination.close()
    assert outcome.error is not None
    assert "kept throttling" in outcome.error and "429 TooManyRequests" in outcome.error


async def test_group_members_go_in_parts_of_20_and_members_already_there_are_skipped(
    graph_tenant: Tenant, tmp_path: Path
) -> None:
    for i in range(45):
        user(graph_tenant, f"M{i:02d}")
    upn = {f"M{i:02d}": f"m{i:02d}@{graph_tenant.domain}" for i in range(45)}
    conn = connection(tmp_path, graph_tenant)
    groups = Layout(keys=("displayName",), fields=("displayName", "members"))
    destination = await side(conn, groups, object_classes=["group"])
    first = sorted(upn.values())[:42]
    team: Change = Change(
        action="create",
        key="Team",
        match={"displayName": "Team"},
        set={"displayName": "Team", "members": first},
        object_type="group",
    )
    later = Change(
        action="update",
        key="Team",
        match={"displayName": "Team"},
        add={"members": sorted(upn.values())[40:]},  # two of them are members already
        remove={"members": first[:3]},
        object_type="group",
    )
    try:
        created = await destination.apply([team])
        changed = await destination.apply([later])
        read = [r async for batch in destination.read(100) for r in batch]
    finally:
        await destination.close()
    assert [o.error for o in created + changed] == [None, None]
    ids = {u["userPrincipalName"]: u["id"] for u in graph_tenant.objects()["user"]}
    (group,) = graph_tenant.objects()["group"]
    wanted = sorted(upn.values())[3:]
    assert sorted(group["_members"]) == sorted(ids[u] for u in wanted)
    assert read == [{"displayName": "Team", "members": wanted}]
    assert group["securityEnabled"] is True and group["mailEnabled"] is False
