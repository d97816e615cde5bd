"""Remote sites across job shapes: a job of several object types (users, and groups whose
members are `resolve` fields naming the users) and a run scoped to keys, whose
destination lives in a site, are planned and applied by that site's runners alone — as
previewed — and leave the destination as the same job run centrally leaves it; a site
with no runner leaves the run of every object type waiting, none of it applied elsewhere.

The destination is tests/plugins/lifecycle.py (a JSON file per connection); the hub runs
the services and a central runner, the site's runner is attached to the leaf only."""

from __future__ import annotations

import asyncio
import csv
import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import nats.js.errors
import pytest

from core.checks.job import check_job
from core.errors import BadInput
from core.runs import fold
from schemas.events import (
    RunBatchApplied,
    RunFinished,
    RunPlanned,
    RunStarted,
    RunWaitingForSite,
    is_end,
)
from schemas.previews import PreviewRequest
from schemas.subjects import site_plan_subject, work_subject
from services.cli.client import Session, connect
from services.cli.watch import follow_run
from services.common.definitions import load_connections, load_job
from services.common.jetstream import ABSENT_BUCKET, WATERMARKS_BUCKET, WORK
from services.common.settings import Settings
from services.common.watermarks import Absence, absence_key
from services.providers import FACTS
from tests.nats_sites import Site

from .journal import events_of_run, wait_for_event
from .previews import preview_json
from .test_sites import SITE, hosted, hub_settings, in_site

__all__ = ["hub_settings"]  # the fixture, used here

CENTRAL, BRANCH = "dir-central", "dir-branch"
OLD, NEW = "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z"


def job_toml(job_id: str, destination: str) -> str:
    """Users (each with a manager, a reference) and groups (their members, references to
    the users): groups' members wait for the users they name (planned in phases)."""
    return f"""\
id = "{job_id}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "{destination}" }}
safety = {{ max_percent = 100 }}
batch_size = 2

[[objects]]
type = "user"
keys = ["id"]
on_destination_only = "disable"
source = {{ file = "people.csv" }}
destination = {{ query = "users" }}
fields = [
  {{ to = "id" }},
  {{ to = "name" }},
  {{ to = "dept" }},
  {{ to = "manager", resolve = {{ type = "user", by = "id" }} }},
]

[[objects]]
type = "group"
keys = ["id"]
on_destination_only = "delete"
source = {{ file = "groups.csv" }}
destination = {{ query = "groups" }}
fields = [
  {{ to = "id" }},
  {{ to = "title" }},
  {{ to = "members", delimiter = "|", resolve = {{ type = "user", by = "id" }} }},
]
"""


def lean_incremental_toml(job_id: str, destination: str) -> str:
    """Users only, read by what changed (a watermark), disabled when absent and deleted
    30 days later (absences recorded): the destination cheap to read twice, so plans take
    the low-memory path. The site's runner keeps the watermark and the absences."""
    return f"""\
id = "{job_id}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "{destination}" }}
safety = {{ max_percent = 100 }}
changes = {{ field = "at" }}
batch_size = 2

[[objects]]
type = "user"
keys = ["id"]
on_destination_only = "disable"
delete_after = "30d"
restore = true
fields = [{{ to = "id" }}, {{ to = "name" }}, {{ to = "dept" }}]
"""


def connections_toml(folder: Path, rereadable: bool) -> str:
    cheap = str(rereadable).lower()  # the low-memory planner, for large plans
    actions = '["create", "update", "delete", "disable", "enable", "move"]'
    plugin = 'provider = "plugin"\nfactory = "tests.plugins.lifecycle:LifecycleProvider"\n'
    return (
        '[hr]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ","\n\n'
        f"[{CENTRAL}]\n{plugin}"
        f'options = {{ path = "{folder / "central.json"}", rereadable = {cheap} }}\n'
        f"actions = {actions}\n\n"
        f'[{BRANCH}]\n{plugin}site = "{SITE}"\n'
        f'options = {{ path = "{folder / "branch.json"}", rereadable = {cheap} }}\n'
        f"actions = {actions}\n"
    )


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def person(n: int, dept: str = "Sales") -> dict[str, str]:
    return {"id": f"p{n}", "name": f"Person {n}", "dept": dept, "manager": "" if n == 1 else "p1"}


class Twins:
    """The same job twice: `central` writes central.json, `branch` (in the site) branch.json."""

    def __init__(self, folder: Path, session: Session, settings: Settings) -> None:
        self.folder, self.session, self.settings = folder, session, settings
        (folder / "data").mkdir(parents=True)

    async def apply(
        self, toml: Callable[[str, str], str] = job_toml, *, rereadable: bool = False
    ) -> None:
        connections = self.folder / "connections.toml"
        connections.write_text(connections_toml(self.folder, rereadable))
        for connection in load_connections(connections):
            await self.session.store.put_connection(connection)
        stored = {c.id: c for c in await self.session.store.connections()}
        for job_id, destination in (("central", CENTRAL), ("branch", BRANCH)):
            path = self.folder / f"{job_id}.toml"
            path.write_text(toml(job_id, destination))
            job = load_job(path)
            check_job(job, stored, FACTS)
            await self.session.store.put_job(job)

    def write(self, people: list[dict[str, str]], groups: dict[str, list[str]]) -> None:
        write_csv(self.folder / "data" / "people.csv", people)
        rows = [{"id": g, "title": f"Group {g}", "members": "|".join(m)} for g, m in groups.items()]
        write_csv(self.folder / "data" / "groups.csv", rows)

    def destination(self, job_id: str) -> dict[str, Any]:
        """What the job's destination holds: each type's objects, disabled, containers."""
        stored: dict[str, Any] = json.loads((self.folder / f"{job_id}.json").read_text())
        return {
            space: {k: v for k, v in content.items() if k != "log"}
            for space, content in stored.items()
        }

    async def preview(
        self,
        capsys: pytest.CaptureFixture[str],
        job_id: str,
        keys: list[str] | None,
        changed_only: bool = False,
    ) -> str:
        """`idsync job preview JOB --json [--key K …] [--changed-only]`: its plan hash."""
        options = [o for key in keys or [] for o in ("--key", key)]
        options += ["--changed-only"] if changed_only else []
        shown = await preview_json(self.settings, capsys, job_id, *options)
        return str(shown["plan_hash"])

    async def run(
        self,
        capsys: pytest.CaptureFixture[str],
        job_id: str,
        keys: list[str] | None = None,
        changed_only: bool = False,
    ) -> RunFinished:
        """Preview, then run: the run applies the plan previewed, by the right runners."""
        previewed = await self.preview(capsys, job_id, keys, changed_only)
        run_id, end = await follow_run(self.session, job_id, keys, changed_only=changed_only)
        assert isinstance(end, RunFinished), end
        assert end.plan_hash == previewed, "the preview planned another plan"
        events = await events_of_run(self.session, run_id)
        runner = "branch-runner" if job_id == "branch" else "central-runner"
        assert {e.runner for e in events if isinstance(e, RunStarted)} == {runner}
        applied = [e for e in events if isinstance(e, RunBatchApplied)]
        assert applied and {e.runner for e in applied} == {runner}
        handed = any(isinstance(e, RunWaitingForSite) for e in events)
        assert handed == (job_id == "branch"), "only the site's job is handed over"
        return end

    async def both(
        self,
        capsys: pytest.CaptureFixture[str],
        keys: list[str] | None = None,
        changed_only: bool = False,
    ) -> tuple[RunFinished, RunFinished]:
        central = await self.run(capsys, "central", keys, changed_only)
        branch = await self.run(capsys, "branch", keys, changed_only)
        assert branch.stats == central.stats, "the site's run did what the central one did"
        assert self.destination("branch") == self.destination("central")
        return central, branch


@pytest.fixture
async def twins(tmp_path: Path, hub_settings: Settings) -> Any:
    async with connect(hub_settings) as session:
        yield Twins(tmp_path / "job", session, hub_settings)


async def test_several_types_with_references_and_key_scoped_runs_in_a_site_match_central(
    twins: Twins, hub_settings: Settings, site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    async with (
        hosted(hub_settings, "workflow", "runner"),
        hosted(in_site(hub_settings, site), "runner"),
    ):
        await twins.apply()
        twins.write([person(n) for n in range(1, 7)], {"g1": ["p1", "p2"], "g2": ["p3"]})
        first, _ = await twins.both(capsys)
        assert first.stats.created == 8, first.stats
        users = twins.destination("branch")["users"]["objects"]
        assert users["p2"]["manager"] and users["p2"]["manager"] == users["p3"]["manager"]
        members = twins.destination("branch")["groups"]["objects"]["g1"]["members"]
        assert len(members) == 2, "both members resolved"

        # p1 changes department, p2 leaves (disabled), p7 joins and g1; g2 goes.
        rows = [person(1, "IT"), *(person(n) for n in (3, 4, 5, 6, 7))]
        twins.write(rows, {"g1": ["p1", "p7"]})
        second, _ = await twins.both(capsys)
        stats = second.stats
        assert (stats.created, stats.disabled, stats.deleted) == (1, 1, 1), stats
        assert twins.destination("branch")["users"]["disabled"] == ["p2"]

        # Scoped to keys: p3 and p4 change, only p3 is asked for; nothing acts on absence.
        rows[1]["dept"], rows[2]["dept"] = "HR", "HR"
        twins.write(rows[:-1], {"g1": ["p1"]})  # p7 leaves too: not in scope
        scoped, _ = await twins.both(capsys, keys=["p3"])
        assert (scoped.stats.updated, scoped.stats.disabled) == (1, 0), scoped.stats
        users = twins.destination("branch")["users"]
        assert users["objects"]["p3"]["dept"] == "HR" and users["objects"]["p4"]["dept"] == "Sales"
        assert users["disabled"] == ["p2"]


async def test_a_site_without_runners_leaves_every_object_type_waiting(
    twins: Twins, hub_settings: Settings, site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    async with hosted(hub_settings, "workflow", "runner"):
        await twins.apply()
        twins.write([person(n) for n in range(1, 5)], {"g1": ["p1", "p2"]})
        session = twins.session
        run_id = await session.request_run("branch")
        await wait_for_event(
            session, lambda e: isinstance(e, RunWaitingForSite) and e.run_id == run_id
        )
        await asyncio.sleep(2 * hub_settings.ack_wait)  # the central runner leaves it be
        events = await events_of_run(session, run_id)
        (story,) = fold(events)
        assert story.state == f"waiting: site {SITE}", story
        assert not [e for e in events if isinstance(e, RunStarted | RunPlanned | RunBatchApplied)]
        assert not (twins.folder / "branch.json").exists(), "no type applied by anyone"
        waiting = await session.js.get_last_msg(WORK, site_plan_subject(SITE, "branch"))
        assert waiting.data, "the approval waits in the site's queue"
        with pytest.raises(nats.js.errors.NotFoundError):
            await session.js.get_last_msg(WORK, work_subject("branch"))  # no central batch

        async with hosted(in_site(hub_settings, site), "runner"):
            end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id, 60)
        assert isinstance(end, RunFinished) and end.stats.created == 5, end
        events = await events_of_run(session, run_id)
        applied = [e for e in events if isinstance(e, RunBatchApplied)]
        assert {e.runner for e in applied} == {"branch-runner"}
        branch = twins.destination("branch")
        assert set(branch["users"]["objects"]) == {"p1", "p2", "p3", "p4"}
        assert set(branch["groups"]["objects"]) == {"g1"}


async def heard_across_the_leaf(session: Session, timeout: float = 30.0) -> None:
    """Until the hub knows the site runner answers previews: it is ready once the leaf has
    its subscriptions, and the leaf tells the hub of them a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await session.preview(PreviewRequest(job_id="branch"))
            return
        except BadInput as refused:
            assert "no runner of that site" in str(refused), refused
            assert time.monotonic() < deadline, f"the hub never heard the site's runner: {refused}"
            await asyncio.sleep(0.1)


async def test_a_preview_of_a_sites_job_is_planned_by_the_sites_runner_as_its_run(
    twins: Twins, hub_settings: Settings, site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """The portal's previews (idsync.preview.<principal>, a central runner answers): a
    job that lives in a site is planned by one of that site's runners, to the plan its
    run then applies; with none running, the preview says so."""
    session = twins.session
    async with hosted(hub_settings, "workflow", "runner"):
        await twins.apply()
        twins.write([person(n) for n in range(1, 5)], {"g1": ["p1", "p2"]})
        with pytest.raises(BadInput, match=f"no runner of that site.*IDSYNC_SITE={SITE}"):
            await session.preview(PreviewRequest(job_id="branch"))
        central = await session.preview(PreviewRequest(job_id="central"))
        assert central.ok and central.runner == "central-runner", central
        async with hosted(in_site(hub_settings, site), "runner"):
            await heard_across_the_leaf(session)
            for keys in (None, ["p2"]):
                shown = await session.preview(PreviewRequest(job_id="branch", keys=keys))
                assert shown.ok and shown.runner == "branch-runner", shown
                assert shown.plan_hash == await twins.preview(capsys, "branch", keys)
                end = await twins.run(capsys, "branch", keys)
                assert end.plan_hash == shown.plan_hash
                job = await session.store.job("branch")
                unsaved = await session.preview(PreviewRequest(job=job, keys=keys))
                assert unsaved.runner == "branch-runner" and unsaved.ok, unsaved


async def test_incremental_runs_on_the_low_memory_path_in_a_site_keep_their_lifecycle(
    twins: Twins, hub_settings: Settings, site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """The site's runner keeps the job's watermark and absences (through the hub's
    domain) as a central runner does: runs by what changed, a leaver disabled, then
    deleted once 30 days have passed — the same destination as the central job's."""
    async with (
        hosted(hub_settings, "workflow", "runner"),
        hosted(in_site(hub_settings, site), "runner"),
    ):
        await twins.apply(lean_incremental_toml, rereadable=True)
        rows = [{**person(n), "at": OLD} for n in range(1, 6)]
        twins.write(rows, {"g1": []})
        first, _ = await twins.both(capsys)
        assert first.stats.created == 5, first.stats
        watermarks = await twins.session.js.key_value(WATERMARKS_BUCKET)
        assert (await watermarks.get("branch")).value, "the site's runner kept the watermark"

        rows[0] = {**person(1, "IT"), "at": NEW}
        twins.write([*rows[:3], {**person(6), "at": NEW}], {"g1": []})  # p4, p5 leave
        changed, _ = await twins.both(capsys, changed_only=True)
        assert (changed.stats.created, changed.stats.updated, changed.stats.disabled) == (1, 1, 0)
        full, _ = await twins.both(capsys)
        assert full.stats.disabled == 2, full.stats
        absent = await twins.session.js.key_value(ABSENT_BUCKET)
        for job_id in ("central", "branch"):
            name = absence_key(job_id, "user", "p4")
            entry = await absent.get(name)
            assert entry.value is not None, f"{job_id}: the absence is kept"
            since = msgspec.json.decode(entry.value, type=Absence)
            moved = msgspec.structs.replace(since, since=since.since - timedelta(days=30))
            await absent.put(name, msgspec.json.encode(moved))
        gone, _ = await twins.both(capsys)
        assert gone.stats.deleted == 1 and "p4" not in twins.destination("branch")[""]["objects"]
