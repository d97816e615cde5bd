"""The portal's preview across job shapes, on the secured server: a job of several object
types, a job with `resolve` fields, a preview scoped to keys, the low-memory planner and
an incremental preview each give the plan `idsync job preview` gives — the same hash and
counts — and the run asked for the same way then applies that very plan (the hash and
counts its `run.planned` event records).

The destination is tests/plugins/lifecycle.py (a JSON file); each shape previews and
runs twice: creating everything, then updates, a leaver and a new person."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from schemas.events import RunFinished, RunPlanned, is_end
from services.common.definitions import load_connections, load_job
from services.common.settings import Settings

from .journal import events_of_run, wait_for_event
from .portal import Signed, portal_running, signed_in
from .secured import Running, person
from .test_cli_secured import idsync

JOB = "shapes"
SHAPES = ["several-types", "resolve", "key-scoped", "lean", "incremental"]
OLD, NEW = "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z"


@pytest.fixture
def secure(secure: Settings) -> Settings:
    """The secured server's settings, with the portal on a free port."""
    return msgspec.structs.replace(secure, portal_port=0)


def job_toml(shape: str) -> str:
    several = shape in ("several-types", "key-scoped")
    references = shape in ("resolve", "key-scoped")
    manager = (
        '  { to = "manager", resolve = { type = "user", by = "id" } },\n' if references else ""
    )
    members = (
        '{ to = "members", delimiter = "|", resolve = { type = "user", by = "id" } }'
        if references
        else '{ to = "members", delimiter = "|" }'
    )
    scoped = 'source = { file = "people.csv" }\ndestination = { query = "users" }\n'
    groups = f"""
[[objects]]
type = "group"
keys = ["id"]
on_destination_only = "delete"
source = {{ file = "groups.csv" }}
destination = {{ query = "groups" }}
fields = [{{ to = "id" }}, {{ to = "title" }}, {members}]
"""
    changes = 'changes = { field = "at" }\n' if shape == "incremental" else ""
    return f"""\
id = "{JOB}"
owners = ["alice"]
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "dir" }}
safety = {{ max_percent = 100 }}
batch_size = 2
{changes}
[[objects]]
type = "user"
keys = ["id"]
on_destination_only = "disable"
{scoped if several else ""}fields = [
  {{ to = "id" }},
  {{ to = "name" }},
  {{ to = "dept" }},
{manager}]
{groups if several else ""}"""


def connections_toml(folder: Path, shape: str) -> str:
    rereadable = str(shape == "lean").lower()
    return (
        '[hr]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ","\nowners = ["alice"]\n\n'
        '[dir]\nprovider = "plugin"\nfactory = "tests.plugins.lifecycle:LifecycleProvider"\n'
        f'options = {{ path = "{folder / "directory.json"}", rereadable = {rereadable} }}\n'
        'actions = ["create", "update", "delete", "disable", "enable", "move"]\n'
        'owners = ["alice"]\n'
    )


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def person_row(n: int, dept: str = "Sales", at: str = OLD) -> dict[str, str]:
    manager = "" if n == 1 else "p1"
    return {"id": f"p{n}", "name": f"Person {n}", "dept": dept, "manager": manager, "at": at}


def write(folder: Path, people: list[dict[str, str]], groups: dict[str, list[str]]) -> None:
    write_csv(folder / "data" / "people.csv", people)
    rows = [{"id": g, "title": f"Group {g}", "members": "|".join(m)} for g, m in groups.items()]
    write_csv(folder / "data" / "groups.csv", rows)


async def previewed_alike(
    alice: Signed, secure: Settings, keys: list[str] | None, changed_only: bool
) -> dict[str, Any]:
    """The portal's preview, checked against `idsync job preview --json` asked the same
    way: the portal's answer."""
    params: dict[str, Any] = {"limit": 50, "key": keys or [], "changed_only": changed_only}
    answer = await alice.send("POST", f"/api/jobs/{JOB}/preview", params=params)
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    options = [o for key in keys or [] for o in ("--key", key)]
    options += ["--changed-only"] if changed_only else []
    cli = await idsync(secure, "alice", "job", "preview", JOB, "--json", *options)
    assert cli.returncode == 0, cli.stderr
    printed = json.loads(cli.stdout)
    assert shown["plan_hash"] == printed["plan_hash"], "the portal planned another plan"
    assert shown["counts"] == printed["counts"]
    assert [c["key"] for c in shown["changes"]] == [c["key"] for c in printed["changes"]]
    # Another edit of the same definition, not saved, previews alike too.
    job = (await alice.get(f"/api/jobs/{JOB}")).json()
    unsaved = await alice.send("POST", "/api/preview", params=params, json=job)
    assert unsaved.status_code == 200, unsaved.text
    assert unsaved.json()["plan_hash"] == shown["plan_hash"]
    return shown


async def run_as_previewed(
    alice: Signed, secure: Settings, keys: list[str] | None, changed_only: bool
) -> RunFinished:
    shown = await previewed_alike(alice, secure, keys, changed_only)
    body: dict[str, Any] = {"job": JOB, "keys": keys, "changed_only": changed_only}
    asked = await alice.send("POST", "/api/runs", json=body)
    assert asked.status_code in (200, 202), asked.text
    run_id = asked.json()["run_id"]
    async with person(secure, "alice") as session:
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id, 60)
        (planned,) = [e for e in await events_of_run(session, run_id) if isinstance(e, RunPlanned)]
    assert isinstance(end, RunFinished), end
    assert planned.plan_hash == end.plan_hash == shown["plan_hash"], "the run's plan is another"
    assert msgspec.to_builtins(planned.counts) == shown["counts"]
    return end


@pytest.mark.parametrize("shape", SHAPES)
async def test_the_portals_preview_is_the_commands_and_the_runs_plan_in_every_shape(
    tmp_path: Path, secure: Settings, secured_services: Running, shape: str
) -> None:
    folder = tmp_path / "job"
    (folder / "data").mkdir(parents=True)
    (folder / "connections.toml").write_text(connections_toml(folder, shape))
    (folder / "job.toml").write_text(job_toml(shape))
    keys = ["p2", "p3", "p7"] if shape == "key-scoped" else None
    changed_only = shape == "incremental"
    several = shape in ("several-types", "key-scoped")
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await alice_cli.apply_connections(load_connections(folder / "connections.toml"))
            await alice_cli.apply_job(load_job(folder / "job.toml"))
        async with signed_in(secure, "alice") as alice:
            write(folder, [person_row(n) for n in range(1, 6)], {"g1": ["p1", "p2"], "g2": ["p3"]})
            first = await run_as_previewed(alice, secure, None, False)
            assert first.stats.created == 5 + (2 if several else 0), first.stats

            # p1 and p3 change department, p2 leaves, p7 joins; g1's members change.
            rows = [person_row(1, "IT", NEW), person_row(3, "HR", NEW)]
            rows += [person_row(4), person_row(5), person_row(7, at=NEW)]
            write(folder, rows, {"g1": ["p1", "p7"], "g2": ["p3"]})
            second = await run_as_previewed(alice, secure, keys, changed_only)
            stats = second.stats
            if shape == "key-scoped":  # p2 is asked for, but a scoped run never disables;
                # g1, out of its scope, gets its new member p7 as a whole run adds it
                assert (stats.created, stats.updated, stats.disabled) == (1, 2, 0), stats
            elif shape == "incremental":  # p2 is not in what changed: nobody is absent
                assert (stats.created, stats.updated, stats.disabled) == (1, 2, 0), stats
            else:
                updated = 2 + (1 if several else 0)  # g1's members
                assert (stats.created, stats.updated, stats.disabled) == (1, updated, 1), stats
