"""The `idsync` command as a user runs it: exit codes, --json, and every bad input."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from services.cli.client import Session
from services.common.people import people, write_csv
from services.common.settings import Settings

from .conftest import IDSYNC, JOB_ID, Files, RunServices, apply_files, env_for, job_toml


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


def _unclosed(files: Files) -> None:
    lines = files.csv.read_text().splitlines()
    lines[7] = lines[7].replace(";", ';"', 1)  # line 8 opens a quote nothing closes
    files.csv.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("breaks", "reason"),
    [
        (_missing, "people.csv"),
        (_ragged, "people.csv:6"),
        (_latin1, "utf-8"),
        (_duplicate, "E000003"),
        (_unclosed, "people.csv: unclosed quote starting at line 8"),
    ],
    ids=[
        "missing-source-file",
        "ragged-row",
        "bad-encoding",
        "duplicate-source-keys",
        "unclosed-quote",
    ],
)
async def test_a_bad_source_fails_the_run_and_writes_nothing(
    settings: Settings,
    session: Session,
    files: Files,
    services: RunServices,
    breaks: Callable[[Files], None],
    reason: str,
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


async def test_job_list_shows_whether_a_job_is_enabled_and_its_next_run(
    settings: Settings, session: Session, files: Files
) -> None:
    files.write(count=3, schedule="1h")
    await apply_files(session, files)
    files.job.write_text(
        job_toml(schedule="15m", extra="enabled = false").replace(JOB_ID, "paused")
    )
    await apply_files(session, files)
    files.job.write_text(job_toml().replace(JOB_ID, "by-hand"))
    await apply_files(session, files)
    before = datetime.now(UTC)
    listed = await idsync(settings, "job", "list")
    as_json = await idsync(settings, "job", "list", "--json")
    after = datetime.now(UTC)
    assert listed.returncode == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    assert "STATE" in header and "NEXT RUN (UTC)" in header
    rows = {line.split()[0]: line for line in lines}
    # The next full hour (the clock may have passed one while the commands ran).
    hours = {
        (t + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0) for t in (before, after)
    }
    assert "enabled" in rows[JOB_ID] and "every 1h" in rows[JOB_ID]
    assert any(f"{hour:%Y-%m-%d %H:%M:%S}" in rows[JOB_ID] for hour in hours)
    assert "disabled" in rows["paused"] and "every 15m" in rows["paused"]
    assert "enabled" in rows["by-hand"] and "manual only" in rows["by-hand"]
    upcoming = {job["id"]: job["next_run"] for job in json.loads(as_json.stdout)}
    assert upcoming["paused"] is None and upcoming["by-hand"] is None
    assert upcoming[JOB_ID] in {f"{hour:%Y-%m-%dT%H:%M:%S}Z" for hour in hours}


@pytest.mark.parametrize(
    "command", [("job", "show", JOB_ID), ("job", "list"), ("connection", "list", "--json")]
)
async def test_a_reader_that_stops_early_gets_no_traceback(
    settings: Settings, session: Session, files: Files, command: tuple[str, ...]
) -> None:
    """`idsync job show X | head`: the reader has gone before idsync writes."""
    files.write(count=3)
    await apply_files(session, files)
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = await asyncio.to_thread(
            subprocess.run,
            [*IDSYNC, *command],
            env=env_for(settings),
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(writer)
    assert result.stderr == ""
    assert result.returncode == 141  # as a program stopped by SIGPIPE


async def test_connection_add_knows_every_provider_and_its_help_fits(
    settings: Settings, session: Session, tmp_path: Path
) -> None:
    helped = await idsync(settings, "connection", "add", "--help")
    usage, *rest = helped.stdout.splitlines()
    assert usage.endswith("[--set NAME=VALUE] ID"), "the usage is one line, ending with ID"
    assert helped.stdout.endswith(".\n") and all(len(line) <= 100 for line in rest)
    known = "csv, excel, sqlite, ldap, ad, postgresql, mysql, scim, scim-inbound, entra or plugin"
    assert known in " ".join(helped.stdout.split())
    wrong = await idsync(settings, "connection", "add", "corp", "--provider", "ldapp")
    assert wrong.returncode == 2
    assert all(f"'{name}'" in wrong.stderr for name in ("csv", "sqlite", "ldap", "ad", "plugin"))

    ldap = ["--set", 'urls=["ldap://ldap.example.org"]', "--set", "tls=starttls"]
    ldap += ["--set", "bind_dn=cn=idsync,dc=example,dc=org", "--set", "page_size=200"]
    ldap += ["--set", 'password={ env = "LDAP_PASSWORD" }', "--set", "verify=false"]
    added = await idsync(settings, "connection", "add", "corp", "--provider", "ldap", *ldap)
    assert added.returncode == 0, added.stderr
    plugin = ["--set", "factory=tests.plugins.recording:RecordingProvider"]
    added = await idsync(settings, "connection", "add", "own", "--provider", "plugin", *plugin)
    assert added.returncode == 0, added.stderr
    relative = await asyncio.to_thread(
        subprocess.run,
        [*IDSYNC, "connection", "add", "hr", "--provider", "csv", "--set", "directory=data"],
        cwd=tmp_path,
        env=env_for(settings),
        capture_output=True,
        text=True,
    )
    assert relative.returncode == 0, relative.stderr
    stored = {c.id: c for c in await session.store.connections()}
    assert msgspec.to_builtins(stored["corp"])["urls"] == ["ldap://ldap.example.org"]
    assert msgspec.to_builtins(stored["corp"])["page_size"] == 200
    assert msgspec.to_builtins(stored["corp"])["verify"] is False
    assert msgspec.to_builtins(stored["corp"])["password"]["env"] == "LDAP_PASSWORD"
    assert msgspec.to_builtins(stored["hr"])["directory"] == str(tmp_path / "data")

    bad = await idsync(settings, "connection", "add", "x", "--provider", "ldap", "--set", "urls=a")
    assert bad.returncode == 2 and "[x].urls: expected a list of strings" in bad.stderr


async def test_the_preview_names_each_object_prints_values_and_each_warning_once(
    settings: Settings, session: Session, files: Files, services: RunServices
) -> None:
    rows = files.write(count=12)
    await apply_files(session, files)
    async with services():
        assert (await idsync(settings, "job", "run", JOB_ID, "--wait")).returncode == 0
    left = rows.pop(3)
    rows[4]["groups"] = "staff|vpn|wiki"
    write_csv(files.csv, rows)
    result = await idsync(settings, "job", "preview", JOB_ID)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert (
        f"  delete  {left['employee_id']}  given_name={left['first_name']}, "
        f"surname={left['last_name']}, mail={left['email']}"
    ) in out
    assert f"  update  {rows[4]['employee_id']}  groups: " in out
    assert "→ staff; vpn; wiki" in out and "['" not in out
    # Records without a key (skipped, each kind of warning printed once); with every
    # object in the source, none would be absent anyway (keyless records could be any).
    keyless = [{**row, "employee_id": ""} for row in people(5, seed=3, start=100)]
    write_csv(files.csv, [*rows, *keyless, left])
    result = await idsync(settings, "job", "preview", JOB_ID)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "the warnings are printed once, not logged besides"
    out = result.stdout
    warnings = [line for line in out.splitlines() if line.startswith("  warning:")]
    assert len(warnings) == 1, out
    assert warnings[0].startswith("  warning: source record skipped, empty key (employee_id)")
    assert warnings[0].endswith("(and 4 more like it)")


async def test_changed_only_on_a_job_without_changes_is_refused_when_asked(
    settings: Settings, session: Session, files: Files, services: RunServices
) -> None:
    files.write(count=3)
    await apply_files(session, files)
    async with services():
        asked = await idsync(settings, "job", "run", JOB_ID, "--changed-only")
        followed = await idsync(settings, "job", "run", JOB_ID, "--changed-only", "--wait")
    for result in (asked, followed):
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stdout == ""
        assert "says nothing about changes, so it cannot run --changed-only" in result.stderr
        assert 'add changes = { field = "modified_at" }' in result.stderr
    assert await session.journal() == [], "no run was started"
