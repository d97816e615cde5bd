"""Every shape of job by every action, through the services, against one promise: the
preview plans exactly what the run applies (the same hash), a record that fails holds
its object, and the deprovisioning lifecycle works in every shape.

Objects also follow the container their source record names (`container_from`), moved
when it changes, in every shape.

Shapes: one object type; several types (users and groups); `resolve` fields (managers);
the low-memory planner (a destination cheap to read twice), also with its creates kept on
disk while planned (`spilled`); runs scoped to keys; and incremental runs, also on the
low-memory path (the last three with a destination that can look its objects up by key). Actions:
create, update, delete, disable, move, and restore (enable or move back), with
`delete_after`. The destination is tests/plugins/lifecycle.py (it can do all of them);
days pass by moving recorded absences back, never by sleeping.
"""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.checks.job import check_job
from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.main import build_parser
from services.cli.watch import follow_run
from services.common.definitions import load_connections, load_job
from services.common.jetstream import ABSENT_BUCKET
from services.common.settings import Settings
from services.common.watermarks import Absence, absence_key
from services.providers import FACTS
from services.runner.planning import spill
from tests.plugins.lifecycle import reads_of

from .conftest import RunServices
from .previews import preview_json

JOB = "matrix"
FULL_SHAPES = ["one-type", "several-types", "resolve", "lean", "spilled"]
INCREMENTAL = ["incremental", "incremental-lean"]
ABSENCE = ["delete", "disable", "move"]
DEPARTMENTS = '{ map = { Sales = "S", IT = "I", HR = "H" } }'  # no entry: the record fails
OLD = "2026-01-01T00:00:00Z"
NEW = "2026-06-01T00:00:00Z"

Person = dict[str, str]


def person(
    n: int, dept: str = "Sales", manager: str = "", at: str = OLD, status: str = "Active"
) -> Person:
    return {
        "id": f"p{n}",
        "name": f"Person {n}",
        "dept": dept,
        "manager": manager,
        "at": at,
        "status": status,
        "ou": "ou=A",
    }


def people(*numbers: int) -> list[Person]:
    """People p1…: p1 manages the others (resolved in the `resolve` shape)."""
    return [person(n, manager="" if n == 1 else "p1") for n in numbers]


LEAVERS = (
    'leavers = { when = { field = "status", equals = "Terminated" }, action = "disable", '
    'new = "create" }\n'
)


def job_toml(shape: str, absence: str, leavers: str = "", placing: str = "") -> str:
    lasting = 'delete_after = "30d"\nrestore = true\n' if absence != "delete" or leavers else ""
    moving = 'move_to = "ou=gone"\n' if absence == "move" else ""
    several = shape == "several-types"
    manager = (
        '  { to = "manager", resolve = { type = "user", by = "id" } },\n'
        if shape == "resolve"
        else ""
    )
    users = f"""\
[[objects]]
type = "user"
keys = ["id"]
on_destination_only = "{absence}"
{lasting}{moving}{leavers}{placing}{'source = { file = "people.csv" }' if several else ""}
{'destination = { query = "users" }' if several else ""}
fields = [
  {{ to = "id" }},
  {{ to = "name" }},
  {{ to = "dept", transform = {DEPARTMENTS} }},
{manager}]
"""
    kept = lasting if absence in ("disable", "move") else ""
    groups = f"""\
[[objects]]
type = "group"
keys = ["id"]
on_destination_only = "{absence}"
{kept}{moving}source = {{ file = "groups.csv" }}
destination = {{ query = "groups" }}
fields = [{{ to = "id" }}, {{ to = "title" }}]
"""
    changes = 'changes = { field = "at" }\n' if shape in INCREMENTAL else ""
    return f"""\
id = "{JOB}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "dir" }}
safety = {{ max_percent = 100 }}
{changes}
{users}
{groups if several else ""}"""


class Scenario:
    """One job of one shape: its files, its runs and previews, what its destination holds."""

    def __init__(self, folder: Path, session: Session, settings: Settings, shape: str) -> None:
        self.folder, self.session, self.settings, self.shape = folder, session, settings, shape
        self.stored = folder / "directory.json"
        self.data = folder / "data"
        self.data.mkdir(parents=True)

    async def apply(self, absence: str, leavers: str = "", placing: str = "") -> None:
        rereadable = str(self.shape in ("lean", "spilled", "incremental-lean")).lower()
        lookups = str(self.shape in ("key-scoped", *INCREMENTAL)).lower()
        options = f'{{ path = "{self.stored}", rereadable = {rereadable}, lookups = {lookups} }}'
        connections = self.folder / "connections.toml"
        connections.write_text(
            '[hr]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ","\n\n'
            f'[dir]\nprovider = "plugin"\nfactory = "tests.plugins.lifecycle:LifecycleProvider"\n'
            f"options = {options}\n"
            'actions = ["create", "update", "delete", "disable", "enable", "move"]\n'
        )
        (self.folder / "job.toml").write_text(job_toml(self.shape, absence, leavers, placing))
        for connection in load_connections(connections):
            await self.session.store.put_connection(connection)
        job = load_job(self.folder / "job.toml")
        check_job(job, {c.id: c for c in await self.session.store.connections()}, FACTS)
        await self.session.store.put_job(job)

    def write(self, rows: list[Person]) -> None:
        write_csv(self.data / "people.csv", list(person(0)), rows)
        groups = [{"id": g, "title": f"Group {g}"} for g in ("g1", "g2")]
        write_csv(self.data / "groups.csv", ["id", "title"], groups)

    async def preview(self, capsys: pytest.CaptureFixture[str], *options: str) -> dict[str, Any]:
        """`idsync job preview JOB --json …`, as the command runs it."""
        return await preview_json(self.settings, capsys, JOB, *options)

    async def run(
        self, capsys: pytest.CaptureFixture[str], keys: list[str] | None = None, **kw: bool
    ) -> RunFinished:
        """Preview, then run the same way: both must plan the very same changes."""
        options = [o for key in keys or [] for o in ("--key", key)]
        if kw.get("changed_only"):
            options.append("--changed-only")
        previewed = await self.preview(capsys, *options)
        _, end = await follow_run(
            self.session, JOB, keys, changed_only=kw.get("changed_only", False)
        )
        assert isinstance(end, RunFinished), end
        assert end.plan_hash == previewed["plan_hash"], "the preview planned another plan"
        return end

    def users(self) -> dict[str, Any]:
        """The users' namespace of the destination: objects, disabled, containers, log."""
        space = "users" if self.shape == "several-types" else ""
        loaded: dict[str, Any] = json.loads(self.stored.read_text())[space]
        return loaded

    async def days_pass(self, key: str, days: int) -> None:
        kv = await self.session.js.key_value(ABSENT_BUCKET)
        name = absence_key(JOB, "user", key)
        entry = await kv.get(name)
        assert entry.value is not None
        absence = msgspec.json.decode(entry.value, type=Absence)
        moved = msgspec.structs.replace(absence, since=absence.since - timedelta(days=days))
        await kv.put(name, msgspec.json.encode(moved))


@pytest.fixture
def scenario(
    tmp_path: Path,
    session: Session,
    settings: Settings,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Scenario:
    if request.param == "spilled":  # every run of creates goes to disk
        monkeypatch.setattr(spill, "RUN_SIZE", 1)
    return Scenario(tmp_path / "job", session, settings, request.param)


def write_csv(path: Path, header: list[str], rows: list[Person]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def absent_from(users: dict[str, Any], key: str, absence: str) -> bool:
    """Whether the destination shows `key` acted on for absence as `absence` says."""
    if absence == "delete":
        return key not in users["objects"]
    if absence == "disable":
        return key in users["disabled"]
    containers: dict[str, str] = users["containers"]
    return containers.get(key) == "ou=gone"


def untouched(users: dict[str, Any], key: str, since: int) -> bool:
    """Whether `key` is there, enabled, in place, and no change was applied to it after the
    first `since` changes of the log."""
    return (
        key in users["objects"]
        and key not in users["disabled"]
        and key not in users["containers"]
        and not [entry for entry in users["log"][since:] if entry[1] == key]
    )


@pytest.mark.parametrize("scenario", FULL_SHAPES, indirect=True)
@pytest.mark.parametrize("absence", ABSENCE)
async def test_every_full_shape_plans_as_previewed_holds_failures_and_keeps_its_lifecycle(
    scenario: Scenario, services: RunServices, capsys: pytest.CaptureFixture[str], absence: str
) -> None:
    await scenario.apply(absence)
    async with services():
        scenario.write(people(1, 2, 3, 4, 5, 6))
        first = await scenario.run(capsys)
        assert first.stats.created == 6 + (2 if scenario.shape == "several-types" else 0)
        applied = len(scenario.users()["log"])

        # p1 changes department, p2 leaves, p3's department has no entry in the map (it
        # fails: its object must stay as it is), p7 joins.
        rows = people(1, 3, 4, 5, 6, 7)
        rows[0]["dept"], rows[1]["dept"] = "IT", "Legal"
        scenario.write(rows)
        second = await scenario.run(capsys)
        users = scenario.users()
        assert (second.stats.created, second.stats.updated, second.stats.failed) == (1, 1, 1)
        assert users["objects"]["p1"]["dept"] == "I" and "p7" in users["objects"]
        assert absent_from(users, "p2", absence)
        assert untouched(users, "p3", applied), "a record that failed was taken for absent"
        if absence == "delete":
            return

        again = await scenario.run(capsys)  # the next day: p2 is dealt with already
        assert again.stats.written == 0, again.stats

        returning = person(2, dept="HR", manager="p1")  # back, in another department
        scenario.write([*(r for r in rows if r["id"] != "p4"), returning])  # and p4 leaves
        back = await scenario.run(capsys)
        users = scenario.users()
        assert absent_from(users, "p4", absence) and not absent_from(users, "p2", absence)
        assert users["objects"]["p2"]["dept"] == "H", "restored and updated"
        if absence == "disable":
            assert (back.stats.enabled, back.stats.disabled) == (1, 1), back.stats
        else:
            assert back.stats.moved == 2, back.stats  # p2 back where new objects go, p4 away

        await scenario.days_pass("p4", 30)
        gone = await scenario.run(capsys)
        assert gone.stats.deleted == 1 and "p4" not in scenario.users()["objects"]


@pytest.mark.parametrize("scenario", ["several-types"], indirect=True)
async def test_a_preview_samples_every_object_type(
    scenario: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    """`job preview --sample` shows each object type's first records as mapped: only the
    first type's were shown."""
    await scenario.apply("delete")
    scenario.write(people(1, 2))
    samples = (await scenario.preview(capsys, "--sample", "1"))["samples"]
    assert [(s["object_type"], s["source"]["id"]) for s in samples] == [
        ("user", "p1"),
        ("group", "g1"),
    ]
    assert samples[1]["mapped"] == {"id": "g1", "title": "Group g1"}
    args = build_parser().parse_args(["job", "preview", JOB, "--sample", "2"])
    args.settings = scenario.settings
    assert await args.handler(args) == 0
    shown = capsys.readouterr().out
    assert f"{JOB}: the first 2 group source records and what they become" in shown
    assert shown.count("\n#") == 4


@pytest.mark.parametrize("scenario", ["key-scoped"], indirect=True)
async def test_a_run_scoped_to_keys_plans_as_previewed_and_never_acts_on_absence(
    scenario: Scenario, services: RunServices, capsys: pytest.CaptureFixture[str]
) -> None:
    await scenario.apply("disable")
    async with services():
        scenario.write(people(1, 2, 3))
        await scenario.run(capsys)
        applied = len(scenario.users()["log"])
        rows = people(1, 3)
        rows[0]["dept"], rows[1]["dept"] = "HR", "Legal"
        scenario.write(rows)
        scoped = await scenario.run(capsys, keys=["p1", "p2", "p3"])
        users = scenario.users()
        assert (scoped.stats.updated, scoped.stats.failed, scoped.stats.disabled) == (1, 1, 0)
        assert untouched(users, "p2", applied) and untouched(users, "p3", applied)


@pytest.mark.parametrize("scenario", INCREMENTAL, indirect=True)
async def test_an_incremental_run_plans_as_previewed_and_holds_what_failed(
    scenario: Scenario, services: RunServices, capsys: pytest.CaptureFixture[str]
) -> None:
    await scenario.apply("disable")
    async with services():
        scenario.write(people(1, 2, 3))
        assert (await scenario.run(capsys)).stats.created == 3
        applied = len(scenario.users()["log"])
        rows = [person(1, "IT", at=NEW), person(3, "Legal", "p1", at=NEW), person(4, at=NEW)]
        scenario.write(rows)  # p2 is not in the file: an incremental run cannot know
        changed = await scenario.run(capsys, changed_only=True)
        users = scenario.users()
        assert (changed.stats.created, changed.stats.updated, changed.stats.failed) == (1, 1, 1)
        assert untouched(users, "p2", applied) and untouched(users, "p3", applied)


@pytest.mark.parametrize("scenario", INCREMENTAL, indirect=True)
async def test_an_incremental_run_looks_up_only_its_objects_restores_and_holds_failures(
    scenario: Scenario, services: RunServices, capsys: pytest.CaptureFixture[str]
) -> None:
    await scenario.apply("disable")
    async with services():
        scenario.write(people(1, 2, 3, 4))
        assert (await scenario.run(capsys)).stats.created == 4
        scenario.write(people(1, 3, 4))  # p2 leaves
        assert (await scenario.run(capsys)).stats.disabled == 1
        applied, reads = len(scenario.users()["log"]), len(reads_of(scenario.stored))

        rows = [person(1, "IT", at=NEW), person(2, "HR", "p1", at=NEW)]  # p2 is back
        rows.append(person(3, "Legal", "p1", at=NEW))  # p3's record fails
        scenario.write([*rows, person(4, manager="p1")])
        changed = await scenario.run(capsys, changed_only=True)
        assert reads_of(scenario.stored)[reads:] == ["keys", "keys"], "preview and run"
        stats = changed.stats
        assert (stats.enabled, stats.failed, stats.disabled) == (1, 1, 0), stats
        users = scenario.users()
        assert users["disabled"] == [] and users["objects"]["p2"]["dept"] == "H"
        assert users["objects"]["p1"]["dept"] == "I"
        assert untouched(users, "p3", applied) and untouched(users, "p4", applied)


LEAVER_SHAPES = [*FULL_SHAPES, "key-scoped", *INCREMENTAL]


@pytest.mark.parametrize("scenario", LEAVER_SHAPES, indirect=True)
async def test_leavers_by_status_are_disabled_once_and_restored_in_every_shape(
    scenario: Scenario, services: RunServices, capsys: pytest.CaptureFixture[str]
) -> None:
    """HR keeps its leavers, marked `status = Terminated`: absence never happens."""
    await scenario.apply("skip", LEAVERS)
    keys = ["p2", "p5"] if scenario.shape == "key-scoped" else None
    changed_only = scenario.shape in INCREMENTAL

    def status(at: str, **statuses: str) -> list[Person]:
        rows = people(1, 2, 3, 4)
        for row in rows:
            if row["id"] in statuses:
                row["status"], row["at"] = statuses[row["id"]], at
        return rows

    async with services():
        scenario.write([*status(OLD), person(5, manager="p1", status="Terminated")])
        first = await scenario.run(capsys)
        assert first.stats.created == 5 + (2 if scenario.shape == "several-types" else 0)
        assert scenario.users()["disabled"] == ["p5"], "a new leaver is created disabled"

        scenario.write(status(NEW, p2="Terminated"))  # p5 leaves the file: absence is skip
        left = await scenario.run(capsys, keys, changed_only=changed_only)
        assert left.stats.disabled == 1 and scenario.users()["disabled"] == ["p2", "p5"]

        again = await scenario.run(capsys, keys, changed_only=changed_only)
        assert again.stats.written == 0, "a leaver is disabled once"

        scenario.write(status("2026-07-01T00:00:00Z", p2="Active"))
        back = await scenario.run(capsys, keys, changed_only=changed_only)
        assert back.stats.enabled == 1 and scenario.users()["disabled"] == ["p5"]


PLACED = 'container_from = "ou"\n'


@pytest.mark.parametrize("scenario", LEAVER_SHAPES, indirect=True)
async def test_objects_follow_the_container_their_source_names_in_every_shape(
    scenario: Scenario, services: RunServices, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record naming another container moves its object there; the same container
    spelled another way moves nothing; a record that fails never gets its object moved."""
    await scenario.apply("delete", placing=PLACED)  # nobody leaves
    keys = ["p2", "p3", "p4"] if scenario.shape == "key-scoped" else None
    changed_only = scenario.shape in INCREMENTAL
    async with services():
        scenario.write(people(1, 2, 3, 4))
        first = await scenario.run(capsys)
        assert first.stats.created == 4 + (2 if scenario.shape == "several-types" else 0)
        assert scenario.users()["containers"] == dict.fromkeys(["p1", "p2", "p3", "p4"], "ou=A")
        applied = len(scenario.users()["log"])

        rows = people(1, 2, 3, 4)
        rows[1].update(ou="OU=B", at=NEW)  # p2 goes to another container
        rows[2].update(ou="ou=B", dept="Legal", at=NEW)  # p3 too, but its record fails
        rows[3].update(ou=" OU=a ", at=NEW)  # p4: its container, spelled another way
        scenario.write(rows)
        moved = await scenario.run(capsys, keys, changed_only=changed_only)
        assert (moved.stats.moved, moved.stats.failed, moved.stats.written) == (1, 1, 1)
        users = scenario.users()
        assert users["containers"]["p2"] == "OU=B"
        assert users["containers"]["p3"] == "ou=A", "a record that failed had its object moved"
        assert [entry for entry in users["log"][applied:]] == [["move", "p2"]]

        again = await scenario.run(capsys, keys, changed_only=changed_only)
        assert again.stats.written == 0, again.stats
