"""Leavers moved away stay where they went: a run after the one that moved them writes
nothing, whatever the spelling of `move_to` (case, spaces), in every shape of run."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli.client import Session
from services.common.settings import Settings
from tests.ldap_server import Slapd

from .conftest import RunServices
from .ldap_helpers import define
from .test_directory_matrix import (
    LEAVERS,
    NEW,
    SHAPES,
    Directory,
    cdn,
    group,
    job_toml,
    run_shape,
    user,
)
from .test_ldap_jobs import connections_toml


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("spelled", ["as-is", "otherwise"])
async def test_a_leaver_moved_away_is_moved_once(
    slapd: Slapd,
    ldap_base: str,
    tmp_path: Path,
    session: Session,
    settings: Settings,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
    shape: str,
    spelled: str,
) -> None:
    d = Directory(slapd, ldap_base, tmp_path / "job", session, settings)
    job = job_toml(ldap_base, leavers=LEAVERS)
    if spelled == "otherwise":
        job = job.replace(f'"ou=gone,{ldap_base}"', f'" OU=Gone , {ldap_base.upper()}"')
    await define(session, d.folder, connections_toml(d.folder, slapd), job)
    a = d.ou("a")
    d.write([user(1, a), user(2, a)], [group("team", a, 1, 2)])
    async with services():
        assert (await d.run(capsys)).stats.created == 3
        d.write(
            [user(1, a), {**user(2, a, at=NEW), "status": "Terminated"}], [group("team", a, 1, 2)]
        )
        left = await run_shape(d, capsys, shape, ["p2"])
        assert (left.stats.moved, left.stats.failed) == (1, 0), left.stats
        assert cdn(f"uid=p2,{d.ou('gone')}") in d.state()
        again = await run_shape(d, capsys, shape, ["p2"])
        assert (again.stats.written, again.stats.failed) == (0, 0), again.stats
        whole = await d.run(capsys)
        assert (whole.stats.written, whole.stats.failed) == (0, 0), whole.stats
