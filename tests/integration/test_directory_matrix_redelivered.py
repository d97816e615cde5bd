"""A run into a real slapd whose runner writes a batch and dies before recording it: the
batch is delivered again to another runner and applied again — its moves, renames,
creates and group members — and the run ends as one run without the crash would: each
entry once, where its record puts it, each member once, each record counted once; the
next run finds nothing to do."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from schemas.events import RunFinished, is_end
from services.cli.client import Session
from services.common.settings import Settings
from tests.ldap_server import Slapd

from .conftest import RunServices
from .journal import wait_for_event
from .processes import runner_process
from .test_directory_matrix import JOB, Directory, cdn, group, user


@pytest.mark.parametrize("dies_at", [1, 3])
async def test_a_batch_applied_twice_moves_renames_and_adds_members_once(
    slapd: Slapd,
    ldap_base: str,
    tmp_path: Path,
    session: Session,
    settings: Settings,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
    dies_at: int,
) -> None:
    d = Directory(slapd, ldap_base, tmp_path / "job", session, settings)
    await d.define(rdn="cn")
    job = (d.folder / "job.toml").read_text()
    (d.folder / "job.toml").write_text(
        job.replace(f'id = "{JOB}"', f'id = "{JOB}"\nbatch_size = 2')
    )
    await d.define(rdn="cn")  # as written, then with small batches
    a, b = d.ou("a"), d.ou("b")
    people = [user(n, a) for n in range(1, 7)]
    d.write(people, [group("team", a, 1, 2, 3), group("rest", a, 4, 5, 6)])
    async with services():
        first = await d.run(capsys)
        assert (first.stats.created, first.stats.failed) == (8, 0), first.stats

    # Moved, renamed, both; the groups' members change too.
    changed = [
        user(1, b),
        user(2, b),
        user(3, a, "Ada, Lovelace"),
        user(4, b, "Bo + Co"),
        user(5, a),
        user(6, a),
    ]
    d.write(changed, [group("team", a, 1, 2, 3, 4), group("rest", b, 5, 6)])
    async with services("workflow"):
        doomed_env = {"IDSYNC_FAILPOINTS": f"after-write:{dies_at}"}
        with runner_process(settings, "doomed", **doomed_env) as doomed:
            run_id = await session.request_run(JOB)
            assert await asyncio.to_thread(doomed.wait, 60) == -signal.SIGKILL
        with runner_process(settings, "survivor"):
            end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id, 120)
    assert isinstance(end, RunFinished), end
    stats = end.stats
    assert (stats.failed, stats.created, stats.deleted) == (0, 0, 0), stats
    assert (stats.moved, stats.updated) == (4, 2), stats  # p1, p2, p4 (renamed too), rest
    state = d.state()
    p3, p4 = cdn(f"cn=Ada\\, Lovelace,{a}"), cdn(f"cn=Bo \\+ Co,{b}")
    expected_users = [cdn(f"cn=Person 1,{b}"), cdn(f"cn=Person 2,{b}"), p3, p4]
    assert state[cdn(f"cn=team,{a}")]["member"] == sorted(expected_users), state
    rest = [cdn(f"cn=Person 5,{a}"), cdn(f"cn=Person 6,{a}")]
    assert state[cdn(f"cn=rest,{b}")]["member"] == sorted(rest), state
    assert len(state) == 8, sorted(state)
    async with services():
        again = await d.run(capsys)
        assert (again.stats.written, again.stats.failed) == (0, 0), again.stats
