"""Managing jobs with the command, as a user does: duplicate, rename, enable and disable,
pin, list with filters and orders, export and import (TOML and JSON; with their
collections and templates), delete with or without the history."""

from __future__ import annotations

import json
from pathlib import Path

from services.cli.client import Session
from services.common.jetstream import RUNS_BUCKET
from services.common.reading import bucket_keys
from services.common.runs import Runs
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices, apply_files
from .test_cli import idsync
from .test_collections import collection_file


async def ok(settings: Settings, *args: str) -> str:
    done = await idsync(settings, *args)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


async def listed(settings: Settings, *args: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = json.loads(await ok(settings, "job", "list", "--json", *args))
    return found


async def definitions(settings: Settings) -> dict[str, dict[str, object]]:
    """The jobs listed, by id, without when each runs next: that moves with the clock (an
    hourly job's next run is another once the hour has turned between two listings)."""
    return {
        str(job["id"]): {name: value for name, value in job.items() if name != "next_run"}
        for job in await listed(settings)
    }


async def test_duplicate_rename_and_list_with_filters_and_orders(
    settings: Settings, files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=4, schedule="1h")
    await apply_files(session, files)
    async with services("workflow", "runner"):
        for _ in range(2):
            await ok(settings, "job", "run", JOB_ID, "--wait")
        said = await ok(settings, "job", "duplicate", JOB_ID, "hr-copy", "--title", "Copy of HR")
        assert "disabled" in said
        refused = await idsync(settings, "job", "run", "hr-copy")
        assert refused.returncode == 2
        assert "job 'hr-copy' is disabled: `idsync job enable hr-copy` lets it run" in (
            refused.stderr
        )
        await ok(settings, "job", "rename", JOB_ID, "HR every night")
    shown = json.loads(await ok(settings, "job", "show", JOB_ID, "--json"))
    assert (shown["id"], shown["title"]) == (JOB_ID, "HR every night")
    copy = json.loads(await ok(settings, "job", "show", "hr-copy", "--json"))
    assert (copy["title"], copy["enabled"]) == ("Copy of HR", False)
    assert copy["objects"] == shown["objects"] and copy["source"] == shown["source"]

    by_runs = await listed(settings, "--sort", "times-run")
    assert [(j["id"], j["times_run"]) for j in by_runs] == [(JOB_ID, 2), ("hr-copy", 0)]
    assert by_runs[0]["last_outcome"] == "finished"
    assert [j["id"] for j in await listed(settings, "--outcome", "never")] == ["hr-copy"]
    assert [j["id"] for j in await listed(settings, "--state", "disabled")] == ["hr-copy"]
    assert [j["id"] for j in await listed(settings, "--name", "night")] == [JOB_ID]
    assert len(await listed(settings, "--source", "hr", "--destination", "db")) == 2
    assert await listed(settings, "--owner", "nobody") == []
    table = await ok(settings, "job", "list", "--sort", "last-run")
    assert table.splitlines()[1].startswith(JOB_ID) and "RUNS" in table.splitlines()[0]

    duplicate = await idsync(settings, "job", "duplicate", JOB_ID, "hr-copy")
    assert duplicate.returncode == 2 and "exists already" in duplicate.stderr


async def test_export_then_import_gives_back_the_same_jobs_connections_collections_and_templates(
    settings: Settings, files: Files, session: Session, tmp_path: Path
) -> None:
    files.write(count=3, schedule="1h")
    files.job.write_text(
        files.job.read_text().replace(
            "[[objects]]",
            '[[schedules]]\nname = "nightly"\ncron = "30 2 * * *"\nzone = "Europe/Paris"\n\n'
            "[[objects]]",
        )
    )
    await apply_files(session, files)
    await ok(settings, "job", "duplicate", JOB_ID, "second")
    await ok(settings, "job", "pin", "second")
    nightly = collection_file(tmp_path, "nightly", (JOB_ID, "abort"), ("second", "continue"))
    await ok(settings, "collection", "apply", str(nightly))
    await ok(settings, "template", "save", JOB_ID, "people-like", "--title", "People")
    before = await definitions(settings)
    connections = json.loads(await ok(settings, "connection", "list", "--json"))
    collection = await ok(settings, "collection", "show", "nightly", "--json")
    template = await ok(settings, "template", "show", "people-like", "--json")
    for fmt in ("toml", "json"):
        folder = tmp_path / fmt
        await ok(settings, "job", "export", "--to", str(folder), "--format", fmt)
        assert sorted(p.name for p in (folder / "jobs").iterdir()) == [
            f"{JOB_ID}.{fmt}",
            f"second.{fmt}",
        ]
        assert [p.name for p in (folder / "collections").iterdir()] == [f"nightly.{fmt}"]
        assert [p.name for p in (folder / "templates").iterdir()] == [f"people-like.{fmt}"]
        await ok(settings, "collection", "delete", "nightly")
        await ok(settings, "template", "delete", "people-like")
        for job_id in before:
            await ok(settings, "job", "delete", job_id)
        assert await listed(settings) == []
        said = await ok(settings, "job", "import", str(folder))
        assert "imported 2 connections, 2 jobs, 1 collections and 1 templates" in said
        assert await definitions(settings) == before
        assert json.loads(await ok(settings, "connection", "list", "--json")) == connections
        assert await ok(settings, "collection", "show", "nightly", "--json") == collection
        assert await ok(settings, "template", "show", "people-like", "--json") == template
    exported = (tmp_path / "toml" / "jobs" / f"{JOB_ID}.toml").read_text()
    assert 'cron = "30 2 * * *"' in exported and "batch_size" not in exported

    # `job show --json` is a file `job apply` takes back.
    shown = tmp_path / "shown.json"
    shown.write_text(
        (await ok(settings, "job", "show", JOB_ID, "--json")).replace(
            '"HR to the database"', '"Edited as JSON"'
        )
    )
    assert "updated job" in await ok(settings, "job", "apply", str(shown))
    assert json.loads(await ok(settings, "job", "show", JOB_ID, "--json"))["title"] == (
        "Edited as JSON"
    )


async def test_a_deleted_job_keeps_its_history_unless_asked_to_forget_it(
    settings: Settings, files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=3)
    await apply_files(session, files)
    async with services("workflow", "runner"):
        await ok(settings, "job", "run", JOB_ID, "--wait")
        await ok(settings, "job", "duplicate", JOB_ID, "other")
        await ok(settings, "job", "enable", "other")
        await ok(settings, "job", "run", "other", "--wait")
    await ok(settings, "job", "delete", "other")
    kept = json.loads(await ok(settings, "run", "list", "--job", "other", "--json"))
    assert len(kept) == 1  # deleted, its run still listed
    said = await ok(settings, "job", "delete", JOB_ID, "--forget-history")
    assert "deleted with the history of 1 runs" in said
    assert json.loads(await ok(settings, "run", "list", "--job", JOB_ID, "--json")) == []
    runs = Runs(session.js)
    states = [await runs.get(key) for key in await bucket_keys(session.js, RUNS_BUCKET)]
    assert sorted(state.job_id for state in states if state is not None) == ["other"]


async def test_a_pinned_job_is_listed_first_until_unpinned(
    settings: Settings, files: Files, session: Session
) -> None:
    files.write(count=1)
    await apply_files(session, files)
    await ok(settings, "job", "duplicate", JOB_ID, "zz-last")
    assert [j["id"] for j in await listed(settings)] == [JOB_ID, "zz-last"]
    assert "pinned" in await ok(settings, "job", "pin", "zz-last")
    assert [j["id"] for j in await listed(settings)] == ["zz-last", JOB_ID]
    assert "disabled, pinned" in (await ok(settings, "job", "list")).splitlines()[1]
    await ok(settings, "job", "unpin", "zz-last")
    assert [j["id"] for j in await listed(settings)] == [JOB_ID, "zz-last"]


async def test_a_pinned_collection_is_listed_first(
    settings: Settings, files: Files, session: Session, tmp_path: Path
) -> None:
    files.write(count=1)
    await apply_files(session, files)
    for name in ("a-first", "b-second"):
        await ok(
            settings, "collection", "apply", str(collection_file(tmp_path, name, (JOB_ID, "abort")))
        )

    def order(table: str) -> list[str]:
        return [line.split()[0] for line in table.splitlines()[1:]]

    assert order(await ok(settings, "collection", "list")) == ["a-first", "b-second"]
    await ok(settings, "collection", "pin", "b-second")
    assert order(await ok(settings, "collection", "list")) == ["b-second", "a-first"]
    await ok(settings, "collection", "unpin", "b-second")
    assert order(await ok(settings, "collection", "list")) == ["a-first", "b-second"]


async def test_a_job_id_that_cannot_be_one_is_no_such_job(
    settings: Settings, files: Files, session: Session, services: RunServices
) -> None:
    # A path, or an id pasted with a space: `job show` failed with a NATS error and
    # `job run` waited 10 s to say the workflow service did not answer.
    files.write(count=2)
    await apply_files(session, files)
    async with services("workflow"):
        for wrong in ("../x", "hr-to-db ", ".x"):
            for args in (("job", "show", wrong), ("job", "run", wrong), ("job", "disable", wrong)):
                refused = await idsync(settings, *args)
                assert refused.returncode == 2, (args, refused.stderr)
                assert f"no job {wrong!r}" in refused.stderr, (args, refused.stderr)
