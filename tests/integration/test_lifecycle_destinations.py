"""The deprovisioning lifecycle on real destinations, in a job of one type and of two
(people, and groups naming them by `resolve`): a person gone from the source is
disabled once, left alone while the grace period runs, enabled when back, and deleted
once `delete_after` has passed — each run previewed first with the same hash, and a
whole run after each step finding nothing to do. Days pass by moving the recorded
absence back, never by sleeping."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import openpyxl
import pytest

from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.jetstream import ABSENT_BUCKET
from services.common.settings import Settings
from services.common.watermarks import Absence, absence_key
from services.runner.planning import low_memory
from tests.graph_server import Tenant
from tests.plugins.lifecycle import MISSING
from tests.scim_server import TOKEN, resources

from .conftest import RunServices
from .entra_helpers import connection_toml
from .ldap_helpers import define
from .previews import preview_json

JOB = "lifecycle-scim"


def connections(folder: Path, url: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scim-token").write_text(TOKEN + "\n")
    return f"""\
[hr]
provider = "csv"
directory = "data"
delimiter = ";"

[scim]
provider = "scim"
url = "{url}"
token = {{ file = "{folder / "scim-token"}" }}
"""


USERS = """\
[[objects]]
type = "user"
keys = ["userName"]
on_destination_only = "disable"
delete_after = "30d"
restore = true
fields = [
  { to = "userName", from = "id" },
  { to = "displayName", from = "name" },
  { to = "title" },
]
"""

GROUPS = """
[[objects]]
type = "group"
keys = ["displayName"]
on_destination_only = "delete"
source = { file = "groups.csv" }
destination = { object_classes = ["Group"] }
fields = [
  { to = "displayName", from = "group" },
  { to = "members", delimiter = "|", resolve = { type = "user", by = "userName" } },
]
"""


LEAVERS = 'leavers = { when = { field = "status", equals = "Terminated" }, action = "disable" }\n'


def job_toml(shape: str, leavers: bool = False) -> str:
    users = USERS.replace("restore = true\n", "restore = true\n" + LEAVERS) if leavers else USERS
    return (
        f'id = "{JOB}"\n'
        'source = { connection = "hr", file = "people.csv" }\n'
        'destination = { connection = "scim" }\n'
        'changes = { field = "at" }\n'
        "safety = { max_percent = 100 }\n\n" + users + (GROUPS if shape == "two-types" else "")
    )


def write(
    folder: Path,
    ids: list[str],
    members: list[str] | None = None,
    at: int = 1,
    leavers: tuple[str, ...] = (),
) -> None:
    """The people (each changed at `at`, the incremental runs' watermark) and the group
    naming `members` (by default, the people)."""
    with (folder / "data" / "people.csv").open("w", newline="") as out:
        rows = csv.writer(out, delimiter=";")
        rows.writerow(["id", "name", "title", "at", "status"])
        rows.writerows(
            [i, f"Person {i}", "Clerk", f"{at:04d}", "Terminated" if i in leavers else "Active"]
            for i in ids
        )
    with (folder / "data" / "groups.csv").open("w", newline="") as out:
        rows = csv.writer(out, delimiter=";")
        rows.writerow(["group", "members"])
        rows.writerow(["staff", "|".join(ids if members is None else members)])


async def preview(
    settings: Settings, capsys: pytest.CaptureFixture[str], *options: str, job: str = JOB
) -> dict[str, Any]:
    """`idsync job preview JOB --json …`, as the command runs it."""
    return await preview_json(settings, capsys, job, *options)


async def run(
    session: Session,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    keys: list[str] | None = None,
    changed_only: bool = False,
    job: str = JOB,
) -> RunFinished:
    """Preview, then run the same way: both plan the very same changes."""
    options = [o for key in keys or [] for o in ("--key", key)]
    options += ["--changed-only"] if changed_only else []
    previewed = await preview(settings, capsys, *options, job=job)
    _, end = await follow_run(session, job, keys, changed_only=changed_only)
    assert isinstance(end, RunFinished), end
    assert end.plan_hash == previewed["plan_hash"], "the preview planned another plan"
    return end


async def days_pass(session: Session, key: str, days: int, job: str = JOB) -> None:
    kv = await session.js.key_value(ABSENT_BUCKET)
    name = absence_key(job, "user", key)
    entry = await kv.get(name)
    assert entry.value is not None
    absence = msgspec.json.decode(entry.value, type=Absence)
    moved = msgspec.structs.replace(absence, since=absence.since - timedelta(days=days))
    await kv.put(name, msgspec.json.encode(moved))


def users(url: str) -> dict[str, dict[str, Any]]:
    return {u["userName"]: u for u in resources(url)}


@pytest.mark.parametrize("shape", ["one-type", "two-types"])
async def test_scim_users_disabled_kept_restored_and_deleted_in_every_shape(
    shape: str,
    scim_url: str,
    tmp_path: Path,
    session: Session,
    settings: Settings,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "job"
    await define(session, folder, connections(folder, scim_url), job_toml(shape))
    everyone = ["p1", "p2", "p3", "p4"]
    write(folder, everyone)
    async with services():
        first = await run(session, settings, capsys)
        assert first.stats.failed == 0
        assert (await run(session, settings, capsys)).stats.written == 0

        write(folder, ["p1", "p2", "p3"], everyone)  # p4 leaves, still named in the group
        gone = await run(session, settings, capsys)
        assert (gone.stats.disabled, gone.stats.failed) == (1, 0)
        assert users(scim_url)["p4"]["active"] is False
        again = await run(session, settings, capsys)
        assert (again.stats.written, again.stats.failed) == (0, 0), "disabled once"

        write(folder, everyone)  # p4 is back
        back = await run(session, settings, capsys)
        assert (back.stats.enabled, back.stats.failed) == (1, 0)
        assert users(scim_url)["p4"]["active"] is True
        again = await run(session, settings, capsys)
        assert (again.stats.written, again.stats.failed) == (0, 0), "restored once"

        write(folder, ["p1", "p2", "p3"])  # p4 leaves for good
        assert (await run(session, settings, capsys)).stats.disabled == 1
        await days_pass(session, "p4", 31)
        deleted = await run(session, settings, capsys)
        assert (deleted.stats.deleted, deleted.stats.failed) == (1, 0)
        assert "p4" not in users(scim_url)
        again = await run(session, settings, capsys)
        assert (again.stats.written, again.stats.failed) == (0, 0), "deleted once"


@pytest.mark.parametrize("shape", ["one-type", "two-types"])
@pytest.mark.parametrize("partial", ["key-scoped", "incremental"])
async def test_scim_user_back_is_restored_by_a_partial_run_as_by_a_whole_one(
    shape: str,
    partial: str,
    scim_url: str,
    tmp_path: Path,
    session: Session,
    settings: Settings,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "job"
    await define(session, folder, connections(folder, scim_url), job_toml(shape))
    everyone = ["p1", "p2", "p3", "p4"]
    write(folder, everyone)
    async with services():
        assert (await run(session, settings, capsys)).stats.failed == 0
        write(folder, ["p1", "p2", "p3"], everyone)  # p4 leaves
        assert (await run(session, settings, capsys)).stats.disabled == 1

        write(folder, everyone, at=2)  # p4 is back
        keys = ["p4"] if partial == "key-scoped" else None
        back = await run(session, settings, capsys, keys, changed_only=partial == "incremental")
        assert (back.stats.enabled, back.stats.failed) == (1, 0)
        assert users(scim_url)["p4"]["active"] is True
        whole = await run(session, settings, capsys)
        assert (whole.stats.written, whole.stats.failed) == (0, 0), "restored once"


@pytest.mark.parametrize("shape", ["one-type", "two-types"])
@pytest.mark.parametrize("partial", ["whole", "key-scoped", "incremental"])
async def test_a_scim_leaver_is_disabled_then_deleted_after_the_grace_in_every_shape(
    shape: str,
    partial: str,
    scim_url: str,
    tmp_path: Path,
    session: Session,
    settings: Settings,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """HR keeps its leavers, marked Terminated (and named in their group until deleted)."""
    folder = tmp_path / "job"
    await define(session, folder, connections(folder, scim_url), job_toml(shape, leavers=True))
    everyone = ["p1", "p2", "p3", "p4"]
    write(folder, everyone)
    keys = ["p4"] if partial == "key-scoped" else None
    incremental = partial == "incremental"
    async with services():
        assert (await run(session, settings, capsys)).stats.failed == 0
        write(folder, everyone, at=2, leavers=("p4",))
        left = await run(session, settings, capsys, keys, changed_only=incremental)
        assert (left.stats.disabled, left.stats.failed) == (1, 0)
        assert users(scim_url)["p4"]["active"] is False
        again = await run(session, settings, capsys)
        assert (again.stats.written, again.stats.failed) == (0, 0), "disabled once"

        await days_pass(session, "p4", 31)
        write(folder, everyone, ["p1", "p2", "p3"], at=3, leavers=("p4",))  # the group lets go
        gone = await run(session, settings, capsys, keys, changed_only=incremental)
        assert (gone.stats.deleted, gone.stats.failed) == (1, 0)
        assert "p4" not in users(scim_url)
        again = await run(session, settings, capsys)
        assert (again.stats.written, again.stats.failed) == (0, 0), "deleted once"


ENTRA = "lifecycle-entra"


def entra_job(shape: str) -> str:
    """Users with a lifecycle; with `resolve`, their managers; with two types, groups."""
    by_id = '{ type = "user", by = "employeeId" }'
    manager = f'  {{ to = "manager", from = "boss", resolve = {by_id} }},\n'
    groups = """
[[objects]]
type = "group"
keys = ["displayName"]
source = { file = "groups.csv" }
destination = { object_classes = ["group"] }
fields = [
  { to = "displayName", from = "group" },
  { to = "members", delimiter = "|", resolve = { type = "user", by = "employeeId" } },
]
"""
    return f"""id = "{ENTRA}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "cloud" }}
safety = {{ max_percent = 100 }}

[[objects]]
type = "user"
keys = ["employeeId"]
on_destination_only = "disable"
delete_after = "30d"
restore = true
{LEAVERS}fields = [
  {{ to = "employeeId", from = "id" }},
  {{ to = "userPrincipalName", from = "upn" }},
  {{ to = "displayName", from = "name" }},
{manager if shape == "resolve" else ""}]
{groups if shape == "two-types" else ""}"""


def write_entra(
    folder: Path, tenant: Tenant, ids: list[str], leavers: tuple[str, ...] = ()
) -> None:
    """The people (p1 everyone's manager) and the group naming those who have not left."""
    with (folder / "data" / "people.csv").open("w", newline="") as out:
        rows = csv.writer(out, delimiter=";")
        rows.writerow(["id", "upn", "name", "boss", "status"])
        rows.writerows(
            [
                i,
                f"{i}@{tenant.domain}",
                f"Person {i}",
                "" if i == "p1" else "p1",
                "Terminated" if i in leavers else "Active",
            ]
            for i in ids
        )
    with (folder / "data" / "groups.csv").open("w", newline="") as out:
        rows = csv.writer(out, delimiter=";")
        rows.writerow(["group", "members"])
        rows.writerow(["staff", "|".join(i for i in ids if i not in leavers)])


@pytest.mark.parametrize("shape", ["one-type", "resolve", "two-types"])
async def test_entra_users_disabled_kept_restored_and_deleted_in_every_shape(
    shape: str,
    graph_tenant: Tenant,
    tmp_path: Path,
    session: Session,
    settings: Settings,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "job"
    hr = '[hr]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ";"\n\n'
    await define(session, folder, hr + connection_toml(folder, graph_tenant), entra_job(shape))
    everyone = ["p1", "p2", "p3", "p4"]
    write_entra(folder, graph_tenant, everyone)

    def enabled() -> dict[str, bool]:
        return {k: u["accountEnabled"] for k, u in graph_tenant.users("employeeId").items()}

    async def runs(**kw: Any) -> RunFinished:
        return await run(session, settings, capsys, job=ENTRA, **kw)

    async with services():
        assert (await runs()).stats.failed == 0
        assert (await runs()).stats.written == 0

        write_entra(folder, graph_tenant, ["p1", "p2", "p3"])  # p4 leaves
        assert (await runs()).stats.disabled == 1
        assert enabled()["p4"] is False
        again = await runs()
        assert (again.stats.written, again.stats.failed) == (0, 0), "disabled once"

        write_entra(folder, graph_tenant, everyone)  # back
        back = await runs()
        assert (back.stats.enabled, back.stats.failed) == (1, 0)
        assert enabled()["p4"] is True
        again = await runs()
        assert (again.stats.written, again.stats.failed) == (0, 0), "restored once"

        write_entra(folder, graph_tenant, everyone, leavers=("p3",))  # p3 leaves, kept by HR
        assert (await runs()).stats.disabled == 1
        again = await runs()
        assert (again.stats.written, again.stats.failed) == (0, 0), "a leaver disabled once"
        await days_pass(session, "p3", 31, job=ENTRA)
        gone = await runs()
        assert (gone.stats.deleted, gone.stats.failed) == (1, 0)
        assert "p3" not in enabled()
        again = await runs()
        assert (again.stats.written, again.stats.failed) == (0, 0), "deleted once"

        write_entra(folder, graph_tenant, everyone)  # back within Entra's 30 days
        back = await runs()
        assert (back.stats.created, back.stats.failed) == (1, 0)
        assert enabled()["p3"] is True, "restored from deleted items, and enabled"
        again = await runs()
        assert (again.stats.written, again.stats.failed) == (0, 0), "created once"


BOOK = "lifecycle-excel"


def excel_job(mode: str, marked: bool) -> str:
    """With `marked`, a disabled row is marked in the status the job writes (the people's
    status, Active or Terminated, copied): its `mark`."""
    mark = ', mark = { field = "status", value = "left" }' if marked else ""
    status = ', { to = "status" }' if marked else ""
    return f"""id = "{BOOK}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "books", file = "out.xlsx", sheet = "People", mode = "{mode}"{mark} }}
safety = {{ max_percent = 100 }}

[[objects]]
keys = ["id"]
on_destination_only = "disable"
delete_after = "30d"
restore = true
{LEAVERS}fields = [{{ to = "id" }}, {{ to = "name" }}, {{ to = "title" }}{status}]
"""


def sheet(path: Path) -> dict[str, dict[str, Any]]:
    book: Any = openpyxl.load_workbook(path)
    rows = list(book["People"].iter_rows(values_only=True))
    header = [str(h) for h in rows[0]]
    return {str(r[0]): dict(zip(header, r, strict=True)) for r in rows[1:] if r[0] is not None}


@pytest.mark.parametrize("mode", ["update", "replace"])
@pytest.mark.parametrize("lean", [False, True])
@pytest.mark.parametrize("marked", [False, True])
async def test_excel_rows_disabled_kept_restored_and_deleted_in_every_shape(
    mode: str,
    lean: bool,
    marked: bool,
    tmp_path: Path,
    session: Session,
    settings: Settings,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if lean:  # every destination large enough to be planned in little memory
        monkeypatch.setattr(low_memory, "LEAN_ABOVE", 0)
    folder = tmp_path / "job"
    files = '[hr]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ";"\n\n'
    files += '[books]\nprovider = "excel"\ndirectory = "data"\n'
    await define(session, folder, files, excel_job(mode, marked))
    mark, gone_by = ("status", "left") if marked else ("disabled", "yes")
    everyone = ["p1", "p2", "p3", "p4"]
    write(folder, everyone)
    out = folder / "data" / "out.xlsx"

    async def runs() -> RunFinished:
        return await run(session, settings, capsys, job=BOOK)

    async with services():
        assert (await runs()).stats.created == 4
        assert (await runs()).stats.written == 0

        write(folder, ["p1", "p2", "p3"])  # p4 leaves
        assert (await runs()).stats.disabled == 1
        assert sheet(out)["p4"][mark] == gone_by
        again = await runs()
        assert (again.stats.written, again.stats.failed) == (0, 0), "disabled once"

        write(folder, everyone)  # back
        back = await runs()
        assert (back.stats.enabled, back.stats.failed) == (1, 0)
        assert sheet(out)["p4"][mark] == ("Active" if marked else None)
        again = await runs()
        assert (again.stats.written, again.stats.failed) == (0, 0), "restored once"

        write(folder, everyone, leavers=("p3",))  # p3 leaves, kept by HR
        assert (await runs()).stats.disabled == 1
        again = await runs()
        assert (again.stats.written, again.stats.failed) == (0, 0), "a leaver disabled once"
        await days_pass(session, "p3", 31, job=BOOK)
        gone = await runs()
        assert (gone.stats.deleted, gone.stats.failed) == (1, 0)
        assert "p3" not in sheet(out)
        again = await runs()
        assert (again.stats.written, again.stats.failed) == (0, 0), "deleted once"


MIXED = "lifecycle-mixed"


def mixed_job(shape: str) -> str:
    """The absent disabled, the leavers moved away (`ou=left`); restored when back."""
    groups = """
[[objects]]
type = "group"
keys = ["id"]
on_destination_only = "delete"
source = { file = "groups.csv" }
destination = { query = "groups" }
fields = [{ to = "id", from = "group" }, { to = "members", delimiter = "|" }]
"""
    users = 'destination = { query = "users" }\n' if shape == "two-types" else ""
    leavers = LEAVERS.replace('"disable"', '"move", move_to = "ou=left"')
    return f"""id = "{MIXED}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "dir" }}
safety = {{ max_percent = 100 }}

[[objects]]
type = "user"
keys = ["id"]
container = "ou=people"
on_destination_only = "disable"
restore = true
{leavers}{users}fields = [{{ to = "id" }}, {{ to = "name" }}]
{groups if shape == "two-types" else ""}"""


@pytest.mark.parametrize("shape", ["one-type", "two-types"])
async def test_each_object_back_is_restored_as_it_was_taken_away(
    shape: str,
    tmp_path: Path,
    session: Session,
    settings: Settings,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A job that disables the absent and moves its leavers away: back, the one disabled
    is enabled (never moved: it was not), the leaver moved back (never enabled: it was
    not disabled), as previewed; and nothing is left for the next run."""
    folder = tmp_path / "job"
    stored = folder / "directory.json"
    files = '[hr]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ";"\n\n'
    files += '[dir]\nprovider = "plugin"\nfactory = "tests.plugins.lifecycle:LifecycleProvider"\n'
    files += f'options = {{ path = "{stored}" }}\n'
    files += 'actions = ["create", "update", "delete", "disable", "enable", "move"]\n'
    await define(session, folder, files, mixed_job(shape))
    everyone = ["p1", "p2", "p3", "p4"]
    write(folder, everyone)

    async def runs() -> RunFinished:
        return await run(session, settings, capsys, job=MIXED)

    def users() -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(stored.read_text())
        space: dict[str, Any] = loaded["users" if shape == "two-types" else ""]
        return space

    async with services():
        assert (await runs()).stats.failed == 0
        write(folder, ["p1", "p2", "p3"], everyone, leavers=("p3",))  # p4 gone, p3 leaves
        away = await runs()
        assert (away.stats.disabled, away.stats.moved, away.stats.failed) == (1, 1, 0)
        assert users()["disabled"] == ["p4"] and users()["containers"]["p3"] == "ou=left"

        write(folder, everyone)  # both back
        back = await runs()
        assert (back.stats.enabled, back.stats.moved, back.stats.failed) == (1, 1, 0), (
            "p4 enabled alone, p3 moved back alone"
        )
        restored = [entry for entry in users()["log"] if entry[1] in ("p3", "p4")][-2:]
        assert sorted(restored) == [["enable", "p4"], ["move", "p3"]], restored
        assert users()["disabled"] == [] and users()["containers"].get("p3") == "ou=people"
        again = await runs()
        assert (again.stats.written, again.stats.failed) == (0, 0), "restored once"


@pytest.mark.parametrize("shape", ["one-type", "two-types"])
async def test_an_object_enabled_whose_move_back_failed_is_moved_back_by_the_next_run(
    shape: str,
    tmp_path: Path,
    session: Session,
    settings: Settings,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Disabled and moved away (`move_to`), then back: the enable is applied, the move
    back fails (its OU is not there). The next run — the OU there again — moves it back,
    and enables nothing; the one after finds nothing to do."""
    folder = tmp_path / "job"
    stored = folder / "directory.json"
    files = '[hr]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ";"\n\n'
    files += '[dir]\nprovider = "plugin"\nfactory = "tests.plugins.lifecycle:LifecycleProvider"\n'
    files += f'options = {{ path = "{stored}" }}\n'
    files += 'actions = ["create", "update", "delete", "disable", "enable", "move"]\n'
    job = mixed_job(shape).replace("leavers = ", 'move_to = "ou=gone"\n# leavers = ')
    await define(session, folder, files, job)
    everyone = ["p1", "p2", "p3", "p4"]
    write(folder, everyone)

    async def runs() -> RunFinished:
        return await run(session, settings, capsys, job=MIXED)

    def missing(*containers: str) -> None:
        loaded = json.loads(stored.read_text())
        loaded[MISSING] = list(containers)
        stored.write_text(json.dumps(loaded))

    def users() -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(stored.read_text())
        space: dict[str, Any] = loaded["users" if shape == "two-types" else ""]
        return space

    async with services():
        assert (await runs()).stats.failed == 0
        write(folder, ["p1", "p2", "p3"], everyone)  # p4 leaves
        away = await runs()
        assert (away.stats.disabled, away.stats.failed) == (1, 0)
        assert users()["containers"]["p4"] == "ou=gone" and users()["disabled"] == ["p4"]

        write(folder, everyone)  # back, but its OU is not there
        missing("ou=people")
        broken = await runs()
        assert broken.stats.failed == 1, broken.stats  # the object: one change failed
        assert users()["disabled"] == [], "enabled"
        assert users()["containers"]["p4"] == "ou=gone", "not moved back"

        missing()
        back = await runs()
        assert (back.stats.moved, back.stats.enabled, back.stats.failed) == (1, 0, 0), (
            "moved back where it belongs, not enabled again"
        )
        assert users()["containers"]["p4"] == "ou=people"
        again = await runs()
        assert (again.stats.written, again.stats.failed) == (0, 0), "restored once"


NEW_LEAVERS = 'leavers = { when = { field = "status", equals = "Terminated" }, action = "disable", '
NEW_LEAVERS += 'new = "create" }\n'


@pytest.mark.parametrize("shape", ["one-type", "two-types"])
async def test_a_new_leaver_deleted_after_the_grace_is_not_created_again(
    shape: str,
    tmp_path: Path,
    session: Session,
    settings: Settings,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A job creating new leavers (`new = "create"`, disabled at once), deleting them 30
    days on: HR keeps the leaver, who is deleted once — then neither created nor deleted
    again, run after run; its account made again by hand is disabled, once; back at
    work, enabled."""
    folder = tmp_path / "job"
    stored = folder / "directory.json"
    files = '[hr]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ";"\n\n'
    files += '[dir]\nprovider = "plugin"\nfactory = "tests.plugins.lifecycle:LifecycleProvider"\n'
    files += f'options = {{ path = "{stored}" }}\n'
    files += 'actions = ["create", "update", "delete", "disable", "enable", "move"]\n'
    job = mixed_job(shape).replace("leavers = ", 'delete_after = "30d"\n# leavers = ')
    await define(
        session,
        folder,
        files,
        job.replace(
            '[[objects]]\ntype = "user"\n', ('[[objects]]\ntype = "user"\n' + NEW_LEAVERS), 1
        ),
    )
    everyone = ["p1", "p2", "p3", "p4"]
    write(folder, everyone, leavers=("p4",))

    async def runs() -> RunFinished:
        return await run(session, settings, capsys, job=MIXED)

    def users() -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(stored.read_text())
        space: dict[str, Any] = loaded["users" if shape == "two-types" else ""]
        return space

    async with services():
        first = await runs()
        assert (first.stats.created, first.stats.failed) == (4 + (shape == "two-types"), 0)
        assert users()["disabled"] == ["p4"], "a new leaver, disabled at once"
        await days_pass(session, "p4", 31, job=MIXED)
        gone = await runs()
        assert (gone.stats.deleted, gone.stats.failed) == (1, 0)
        assert "p4" not in users()["objects"]
        for _ in range(2):
            again = await runs()
            assert (again.stats.written, again.stats.failed) == (0, 0), "deleted for good"

        loaded = json.loads(stored.read_text())  # its account made again, by hand
        loaded["users" if shape == "two-types" else ""]["objects"]["p4"] = {"id": "p4"}
        stored.write_text(json.dumps(loaded))
        made = await runs()
        assert (made.stats.disabled, made.stats.failed) == (1, 0), "a leaver's: disabled"
        again = await runs()
        assert (again.stats.written, again.stats.failed) == (0, 0), "disabled once"

        write(folder, everyone)  # back at work
        back = await runs()
        assert (back.stats.enabled, back.stats.failed) == (1, 0)
        assert "p4" in users()["objects"] and users()["disabled"] == []
        assert (await runs()).stats.written == 0
