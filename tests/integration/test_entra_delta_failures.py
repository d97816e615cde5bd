"""An incremental Entra read whose deleted items cannot be read fails: a deleted user's
last state that Graph would not give is not taken for a user deleted for good (left
out), which would let the delta link move past the deletion and lose it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import BadInput
from schemas.values import Record
from services.providers.base import ChangeReader, Layout, Provider
from tests.graph_server import Tenant

from .entra_helpers import connection, side, user

USERS = Layout(keys=("employeeId",), fields=("employeeId", "displayName"))


async def changed(source: Provider, since: str | None) -> list[Record]:
    assert isinstance(source, ChangeReader)
    found: list[Record] = []
    async for batch in source.read_changed(100, since, None):
        found += batch
    return found


def watermark(source: Provider) -> str | None:
    assert isinstance(source, ChangeReader)
    return source.watermark()


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, "InternalServerError"), (403, "Authorization_RequestDenied")],
    ids=["unavailable", "denied"],
)
async def test_a_deleted_user_whose_last_state_cannot_be_read_fails_the_read(
    graph_tenant: Tenant, tmp_path: Path, status: int, code: str
) -> None:
    user(graph_tenant, "E1")
    gone = user(graph_tenant, "E2")
    conn = connection(tmp_path, graph_tenant)
    source = await side(conn, USERS, write=False)
    try:
        assert sorted(str(r["employeeId"]) for r in await changed(source, None)) == ["E1", "E2"]
        mark = watermark(source)
        graph_tenant.graph("DELETE", f"users/{gone['id']}")
        graph_tenant.fault("GET", "directory/deletedItems", status, code, "Not now.", times=9)
        with pytest.raises(BadInput, match=r"deleted items.*Not now"):
            await changed(source, mark)
    finally:
        await source.close()


async def test_a_user_deleted_for_good_is_left_out_and_the_read_goes_on(
    graph_tenant: Tenant, tmp_path: Path
) -> None:
    user(graph_tenant, "E1")
    gone = user(graph_tenant, "E2")
    conn = connection(tmp_path, graph_tenant)
    source = await side(conn, USERS, write=False)
    try:
        await changed(source, None)
        mark = watermark(source)
        graph_tenant.graph("DELETE", f"users/{gone['id']}")
        graph_tenant.graph("DELETE", f"directory/deletedItems/{gone['id']}")
        assert await changed(source, mark) == []
        assert watermark(source) != mark
    finally:
        await source.close()
