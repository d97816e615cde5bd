"""`idsync demo`, as a user runs it on a machine with no server installed."""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

from core.runs import fold
from services.cli.client import connect
from services.common.embedded import EmbeddedNats
from services.common.settings import Settings

from .conftest import IDSYNC
from .test_flow import FULL_FLOW


def run_demo(home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDSYNC_")}
    env["IDSYNC_HOME"] = str(home)
    return subprocess.run([*IDSYNC, "demo"], env=env, capture_output=True, text=True, timeout=180)


async def test_the_demo_runs_its_scenario_and_leaves_a_complete_journal(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = run_demo(home)
    assert first.returncode == 0, first.stdout + first.stderr
    again = run_demo(home)  # it can be run again and again
    assert again.returncode == 0, again.stdout + again.stderr
    out = again.stdout
    assert "job hr-csv-to-sqlite: CSV → SQLite table 'people'" in out, "its name says what it does"
    assert "300 read, 300 created" in out
    assert "300 unchanged" in out
    assert "300 read, 1 created, 1 updated, 1 deleted" in out
    assert "update  E000042  department:" in out
    plan = out[out.index("The plan for the next run:") : out.index("Run 3")]
    created, deleted = (
        line for line in plan.splitlines() if line.lstrip().startswith(("create", "delete"))
    )
    assert "given_name=" in created and "surname=" in created, "the object is named"
    assert "given_name=" in deleted and "surname=" in deleted, "the object is named"

    server = EmbeddedNats(home / "demo" / "nats")  # the demo's own store, after the demo
    url = server.start()
    try:
        async with connect(Settings(home=home, nats_url=url)) as session:
            runs = fold(await session.journal())
    finally:
        server.stop()
    assert len(runs) == 3
    for run in runs:
        steps = [tag for tag, _ in itertools.groupby(run.events)]
        assert steps == FULL_FLOW, run.events
        assert run.state == "finished"
