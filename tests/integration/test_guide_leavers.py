"""docs/guides/hr-leavers-to-directory.md as an administrator follows it.

The example job (examples/jobs/hr-to-ldap.toml) and connections run as written through
every service against a slapd of the test's own, whose base is the guide's
dc=example,dc=org: only the connection's URL is pointed at it, and the password is in
CORP_LDAP_PASSWORD as the guide exports it. The directory's OUs are the guide's LDIF,
the export is edited by the guide's own lines, and each preview (run as the command
runs) must plan what the run then applies. The Active Directory job of the guide is
checked as `idsync job apply` checks it, and planned against an empty domain.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.checks.job import check_job
from core.checks.ownership import unowned_connection_problems
from core.engine import managed_fields, plan
from core.engine.mapping import compile_mapping
from schemas.connections import ActiveDirectoryConnection
from schemas.events import RunFinished
from schemas.jobs import Job
from schemas.plan import RunStats
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.definitions import load_connections, load_job
from services.common.jetstream import ABSENT_BUCKET
from services.common.settings import Settings
from services.common.watermarks import Absence, absence_key
from services.providers import FACTS
from services.runner.planning.entry import default_context
from services.runner.planning.source import SourceMapper
from tests.ldap_server import ADMIN_PASSWORD, Slapd, slapd_binary

from .conftest import RunServices
from .ldap_helpers import entries
from .previews import preview_json

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "guides" / "hr-leavers-to-directory.md").read_text()
JOB = "hr-to-ldap"
PEOPLE = "ou=people,dc=example,dc=org"
LEAVERS = f"ou=leavers,{PEOPLE}"
EXPORT = "data/hr-status.csv"
LEAVES = "4. Someone leaves, someone joins"


def section(heading: str) -> str:
    """The shell lines of the guide's section `## <heading>`."""
    text = GUIDE.split(f"\n## {heading}\n")[1].split("\n## ")[0]
    return "".join(re.findall(r"```sh\n(.*?)```", text, re.S))


def heredoc(script: str, opening: str) -> str:
    """What the line `opening` (ending in <<'EOF') feeds its command."""
    found = re.search(re.escape(opening) + r"\n(.*?\n)EOF\n", script, re.S)
    assert found is not None, f"the guide has no {opening!r}"
    return found[1]


def export_edits(heading: str) -> list[str]:
    """The lines of the section that change the export."""
    lines = [
        line
        for line in section(heading).splitlines()
        if line.startswith(("sed -i", "echo ")) and EXPORT in line
    ]
    assert lines, f"section {heading!r} edits the export"
    return lines


def paste(lines: list[str], folder: Path) -> None:
    subprocess.run(["bash", "-euc", "\n".join(lines)], cwd=folder, check=True)


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Slapd]:
    """A slapd of this test's own: the example's DNs are fixed, not a test's subtree."""
    if slapd_binary() is None or shutil.which("ldapadd") is None:
        pytest.skip("needs OpenLDAP: install the Debian packages slapd and ldap-utils")
    server = Slapd(Path(tempfile.mkdtemp(prefix="idsync-guide-", dir=tmp_path)))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def folder(tmp_path: Path, directory: Slapd, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`cp -r examples ~/idsync-leavers`, the connection's URL pointed at the test's slapd."""
    copy = tmp_path / "idsync-leavers"
    shutil.copytree(ROOT / "examples", copy)
    connections = copy / "connections.toml"
    text = connections.read_text()
    assert text.count('urls = ["ldap://localhost"]') == 1
    connections.write_text(text.replace("ldap://localhost", directory.url))
    monkeypatch.setenv("CORP_LDAP_PASSWORD", ADMIN_PASSWORD)  # the guide's `read … export`
    return copy


async def apply(session: Session, folder: Path, job_file: str) -> Job:
    """`idsync connection apply connections.toml` and `idsync job apply <job_file>`."""
    for connection in load_connections(folder / "connections.toml"):
        await session.store.put_connection(connection)
    job = load_job(folder / job_file)
    check_job(job, {c.id: c for c in await session.store.connections()}, FACTS)
    await session.store.put_job(job)
    return job


async def preview(settings: Settings, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """`idsync job preview hr-to-ldap --json`, as the command runs it."""
    return await preview_json(settings, capsys, JOB)


async def preview_and_run(
    session: Session, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> tuple[list[dict[str, Any]], RunStats]:
    """The preview's changes, and the statistics of the run that follows it, which
    applied the very plan the preview showed."""
    shown = await preview(settings, capsys)
    _, end = await follow_run(session, JOB, None)
    assert isinstance(end, RunFinished), end
    assert end.plan_hash == shown["plan_hash"], "the run applied another plan than previewed"
    changes: list[dict[str, Any]] = shown["changes"]
    return changes, end.stats


def logins(changes: list[dict[str, Any]], field: str = "uid") -> dict[str, str]:
    """Employee number → the value a create gives `field`."""
    return {c["key"]: c["set"][field] for c in changes if c["action"] == "create"}


def dns(directory: Slapd) -> dict[str, str]:
    """Employee number → the DN of its entry, everywhere below ou=people."""
    found = entries(directory, PEOPLE)
    return {values["employeeNumber"][0].decode(): dn for dn, values in found.items()}


async def test_the_guide_creates_unique_logins_moves_a_leaver_out_and_back(
    directory: Slapd,
    folder: Path,
    session: Session,
    settings: Settings,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory.ldapadd(heredoc(section("2. The directory's two OUs"), "<<'EOF'"))
    await apply(session, folder, "jobs/hr-to-ldap.toml")
    async with services():
        # 3. The first run: logins from the names, made unique in employee-number order;
        # the terminated Hiroshi Tanaka (2006) is not created.
        changes, stats = await preview_and_run(session, settings, capsys)
        assert logins(changes) == {
            "2001": "jsmith",
            "2002": "zangstrom",
            "2003": "lnowak",
            "2004": "jsmith2",
            "2005": "mgarcia",
            "2007": "ibrandt",
            "2008": "jsmith3",
        }
        assert logins(changes, "mail")["2008"] == "john.smith2@example.org"
        assert logins(changes, "mail")["2002"] == "zoe.angstrom@example.org"
        assert (stats.created, stats.skipped, stats.failed) == (7, 1, 0)
        found = dns(directory)
        assert "2006" not in found
        assert found["2004"] == f"uid=jsmith2,{PEOPLE}"
        assert found["2002"] == f"uid=zangstrom,{PEOPLE}"

        # 4. Łukasz Nowak leaves (moved to ou=leavers), Jan Smith joins (jsmith4).
        paste(export_edits(LEAVES), folder)
        changes, stats = await preview_and_run(session, settings, capsys)
        assert {(c["action"], c["key"]) for c in changes} == {("move", "2003"), ("create", "2009")}
        assert logins(changes) == {"2009": "jsmith4"}
        assert (stats.moved, stats.created, stats.failed) == (1, 1, 0)
        assert dns(directory)["2003"] == f"uid=lnowak,{LEAVERS}"
        # "Later runs leave him there."
        changes, stats = await preview_and_run(session, settings, capsys)
        assert (changes, stats.written) == ([], 0)

        # 5. He comes back: moved back to ou=people, his login and address kept.
        paste(export_edits("5. He comes back"), folder)
        changes, stats = await preview_and_run(session, settings, capsys)
        assert [(c["action"], c["key"], c["container"]) for c in changes] == [
            ("move", "2003", PEOPLE)
        ]
        assert (stats.moved, stats.failed) == (1, 0)
        back = entries(directory, PEOPLE)[f"uid=lnowak,{PEOPLE}"]
        assert back["mail"] == [b"lukasz.nowak@example.org"]

        # "One run after 90 days deletes the entry if he is still Terminated."
        paste([line for line in export_edits(LEAVES) if "2003" in line], folder)  # again
        (gone,), stats = await preview_and_run(session, settings, capsys)
        assert (gone["action"], stats.moved) == ("move", 1)
        await days_pass(session, "2003", 89)
        changes, stats = await preview_and_run(session, settings, capsys)
        assert (changes, stats.written) == ([], 0)
        await days_pass(session, "2003", 1)
        (gone,), stats = await preview_and_run(session, settings, capsys)
        assert (gone["action"], gone["key"], stats.deleted) == ("delete", "2003", 1)
        assert "2003" not in dns(directory)


async def days_pass(session: Session, key: str, days: int) -> None:
    """Moves the day the job moved `key` out back by `days` (no sleeping)."""
    kv = await session.js.key_value(ABSENT_BUCKET)
    name = absence_key(JOB, "user", key)
    entry = await kv.get(name)
    assert entry.value is not None
    absence = msgspec.json.decode(entry.value, type=Absence)
    moved = msgspec.structs.replace(absence, since=absence.since - timedelta(days=days))
    await kv.put(name, msgspec.json.encode(moved))


def test_the_guides_active_directory_job_passes_its_checks_and_makes_unique_names(
    tmp_path: Path,
) -> None:
    script = section("The same into Active Directory")
    copy = tmp_path / "idsync-leavers"
    shutil.copytree(ROOT / "examples", copy)
    with (copy / "connections.toml").open("a") as connections:
        connections.write(heredoc(script, "cat >> connections.toml <<'EOF'"))
    (copy / "jobs" / "hr-to-ad.toml").write_text(
        heredoc(script, "cat > jobs/hr-to-ad.toml <<'EOF'")
    )
    by_id = {c.id: c for c in load_connections(copy / "connections.toml")}
    assert isinstance(by_id["corp-ad"], ActiveDirectoryConnection)
    job = load_job(copy / "jobs" / "hr-to-ad.toml")
    check_job(job, by_id, FACTS)  # what `idsync job apply` refuses
    assert unowned_connection_problems(job, by_id) == []
    (mapping,) = job.objects
    assert mapping.leavers is not None and mapping.leavers.action == "disable"
    assert mapping.leavers.move_to and job.destination.container
    assert mapping.leavers.move_to.endswith(job.destination.container)  # restore finds them

    # Planned against an empty domain: the leaver is left out, the names made unique,
    # the passwords never in the plan.
    with (copy / EXPORT).open(encoding="utf-8", newline="") as export:
        rows = list(csv.DictReader(export, delimiter=";"))
    mapper = SourceMapper(
        compile_mapping(mapping, default_context(job)), lambda record: record, mapping
    )
    the_plan = plan(mapper.map(rows), [], mapping, managed_fields(mapping, []))
    created = {c.key: c.set for c in the_plan.changes if c.action == "create"}
    assert "2006" not in created and the_plan.counts.skipped == 1
    assert [created[k]["sAMAccountName"] for k in ("2001", "2004", "2008")] == [
        "jsmith",
        "jsmith2",
        "jsmith3",
    ]
    assert created["2008"]["userPrincipalName"] == "jsmith3@corp.example.org"
    assert created["2008"]["cn"] == "John Smith (2)"
    assert all("unicodePwd" not in values for values in created.values())
