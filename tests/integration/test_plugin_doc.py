"""docs/providers/plugin.md as a reader uses it: its class, its connection and its job,
run through every service — created, then updated and deleted, then nothing to do."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.checks.job import check_job
from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.definitions import load_connections, load_job
from services.common.people import people, write_csv
from services.providers import FACTS, check_reachable

from .conftest import RunServices

DOC = (Path(__file__).resolve().parents[2] / "docs" / "providers" / "plugin.md").read_text()
PYTHON = re.findall(r"```python\n(.*?)```", DOC, re.S)
TOML = re.findall(r"```toml\n(.*?)```", DOC, re.S)
HR = '[hr-files]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ";"\n'


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The page's module, installed as its first line names it."""
    (code,) = PYTHON
    where = re.match(r"# (\S+)\n", code)
    assert where is not None, "the example says where it lives"
    module = tmp_path / "site" / where[1]
    module.parent.mkdir(parents=True)
    (module.parent / "__init__.py").write_text("")
    module.write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return tmp_path


async def run(session: Session, job_id: str) -> RunFinished:
    _, end = await follow_run(session, job_id, None)
    assert isinstance(end, RunFinished), end
    return end


async def test_the_pages_plugin_runs_as_the_page_says(
    installed: Path, session: Session, services: RunServices
) -> None:
    connection_toml, job_toml = TOML
    stored = installed / "people.json"
    connections = installed / "connections.toml"
    connections.write_text(HR + connection_toml.replace("/srv/idsync/people.json", str(stored)))
    (installed / "jobs").mkdir()
    job_file = installed / "jobs" / "hr-to-json.toml"
    job_file.write_text(job_toml)
    everyone = people(20)  # the safety limits let 10% go: 2
    write_csv(installed / "data" / "people.csv", everyone)
    found = {c.id: c for c in load_connections(connections)}
    for connection in found.values():
        await session.store.put_connection(connection)
    job = load_job(job_file)
    check_job(job, found, FACTS)
    await session.store.put_job(job)
    assert "is installed here" in await check_reachable(found["people-json"])

    async with services():
        first = await run(session, job.id)
        assert first.stats.created == 20
        left = everyone.pop(2)
        everyone[0]["first_name"], everyone[1]["groups"] = "Renamed", "staff|wiki"
        write_csv(installed / "data" / "people.csv", everyone)
        second = await run(session, job.id)
        third = await run(session, job.id)
    assert (second.stats.updated, second.stats.deleted) == (2, 1)
    assert third.stats.unchanged == 19 and third.stats.written == 0
    written = json.loads(stored.read_text())
    assert left["employee_id"] not in written and len(written) == 19
    assert written[everyone[0]["employee_id"]]["name"] == "Renamed"
    assert written[everyone[1]["employee_id"]]["groups"] == ["staff", "wiki"]
