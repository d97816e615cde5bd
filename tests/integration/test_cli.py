"""The `idsync` command as a user runs it: exit codes, --json, and every bad input."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from services.cli.client import Session
from services.common.settings import Settings

from .conftest import IDSYNC, JOB_ID, Files, RunServices, apply_files, env_for


async def idsync(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [*IDSYNC, *args],
        env=env_for(settings, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def dump(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT * FROM people").fetchall())


async def test_without_a_known_server_the_command_says_how_to_start_one(
    settings: Settings,
) -> None:
    result = await idsync(settings, "job", "list", IDSYNC_NATS_URL="")
    assert result.returncode == 3
    assert "idsync up" in result.stderr and "IDSYNC_NATS_URL" in result.stderr


async def test_an_unreachable_server_is_exit_code_3(settings: Settings) -> None:
    result = await idsync(settings, "job", "list", IDSYNC_NATS_URL="nats://127.0.0.1:9")
    assert result.returncode == 3
    assert "cannot reach NATS at nats://127.0.0.1:9" in result.stderr


@pytest.mark.parametrize(
    ("job_text", "expected"),
    [
        ('id = "x"\ntitle = = "y"\n', "line 2"),
        ('id = "x"\ntitel = "typo"\n', 'unknown field "titel"'),
        ('id = "x"\nsource = "hr"\n', "$.source: expected a table"),
    ],
    ids=["malformed-toml", "unknown-field", "wrong-type"],
)
async def test_a_wrong_job_file_names_the_file_and_what_to_fix(
    settings: Settings, session: Session, tmp_path: Path, job_text: str, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(job_text)
    result = await idsync(settings, "job", "apply", str(path))
    assert result.returncode == 2, result.stderr
    assert "bad.toml" in result.stderr and expected in result.stderr
    assert await session.store.jobs() == []


async def test_a_job_naming_an_unknown_connection_is_refused(
    settings: Settings, session: Session, files: Files
) -> None:
    files.write()
    result = await idsync(settings, "job", "apply", str(files.job))
    assert result.returncode == 2
    assert '"hr"' in result.stderr or "hr" in result.stderr
    assert "connection" in result.stderr


async def test_an_unknown_provider_is_refused(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "connections.toml"
    path.write_text('[corp]\nprovider = "ldapp"\n')
    result = await idsync(settings, "connection", "apply", str(path))
    assert result.returncode == 2
    assert 'unknown provider "ldapp"' in result.stderr


async def test_json_output_of_every_data_command(
    settings: Settings, session: Session, files: Files, services: RunServices
) -> None:
    files.write(count=25)
    assert (await idsync(settings, "connection", "apply", str(files.connections))).returncode == 0
    assert (await idsync(settings, "job", "apply", str(files.job))).returncode == 0
    connections = json.loads((await idsync(settings, "connection", "list", "--json")).stdout)
    assert {c["id"] for c in connections} == {"hr", "db"}
    jobs = json.loads((await idsync(settings, "job", "list", "--json")).stdout)
    assert [j["id"] for j in jobs] == [JOB_ID]
    preview = json.loads((await idsync(settings, "job", "preview", JOB_ID, "--json")).stdout)
    assert preview["counts"]["create"] == 25 and not files.db.exists()
    async with services():
        result = await idsync(settings, "job", "run", JOB_ID, "--wait", "--json")
        unknown = await idsync(settings, "job", "run", "no-such-job")
    assert unknown.returncode == 2 and "no job 'no-such-job'" in unknown.stderr
    nobody_answers = await idsync(settings, "job", "run", JOB_ID)
    assert nobody_answers.returncode == 3 and "idsync up" in nobody_answers.stderr
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["end"]["type"] == "run.finished" and run["end"]["stats"]["created"] == 25
    runs = json.loads((await idsync(settings, "run", "list", "--json")).stdout)
    assert [r["run_id"] for r in runs] == [run["run_id"]]
    shown_result = await idsync(settings, "run", "show", run["run_id"], "--json")
    assert shown_result.returncode == 0, shown_result.stderr
    shown = json.loads(shown_result.stdout)
    assert shown["state"] == "finished" and shown["requested_by"] == "tester"
    assert (await idsync(settings, "run", "show", "nope")).returncode == 2


def _ragged(files: Files) -> None:
    text = files.csv.read_text().splitlines()
    text[5] = text[5] + ";extra"
    files.csv.write_text("\n".join(text) + "\n")


def _latin1(files: Files) -> None:
    files.csv.write_bytes(
        files.csv.read_bytes() + "E999999;Zoë;X;z@x;R;T;staff\n".encode("latin-1")
    )


def _duplicate(files: Files) -> None:
    lines = files.csv.read_text().splitlines()
    files.csv.write_text("\n".join([*lines, lines[3]]) + "\n")


def _missing(files: Files) -> None:
    files.csv.unlink()


@pytest.mark.parametrize(
    ("breaks", "reason"),
    [
        (_missing, "people.csv"),
        (_ragged, "people.csv:6"),
        (_latin1, "utf-8"),
        (_duplicate, "E000003"),
    ],
    ids=["missing-source-file", "ragged-row", "bad-encoding", "duplicate-source-keys"],
)
async def test_a_bad_source_fails_the_run_and_writes_nothing(
    settings: Settings, session: Session, files: Files, services: RunServices, breaks, reason: str
) -> None:
    files.write(count=20)
    await apply_files(session, files)
    async with services():
        assert (await idsync(settings, "job", "run", JOB_ID, "--wait")).returncode == 0
        before = dump(files.db)
        breaks(files)
        result = await idsync(settings, "job", "run", JOB_ID, "--wait")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "failed" in result.stderr and reason in result.stderr
    assert dump(files.db) == before


async def test_a_destination_that_cannot_be_written_fails_the_run(
    settings: Settings, session: Session, files: Files, services: RunServices
) -> None:
    files.write(count=5)
    files.db.mkdir(parents=True)  # a folder where the database file should be
    await apply_files(session, files)
    async with services():
        result = await idsync(settings, "job", "run", JOB_ID, "--wait")
    assert result.returncode == 4
    assert "directory.db" in result.stderr
