"""A field's policy (merge, keep, force) on an attribute the directory compares without
case (businessCategory: caseIgnoreMatch), whose entry holds "Staff" when the source says
"staff|wiki": a merge adds "wiki" alone — "staff" is held already, and the server
refuses an attribute given both —, keep leaves "Staff", force writes the source's
spelling. Then a run writes nothing. In every shape of job: one type, several, a field
naming objects (`resolve`), a run scoped to the key, an incremental run (through the
services: its preview plans what it runs, the same hash); and a table comparing text
without case (MariaDB's default collation), planned lean and in memory alike."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.settings import Settings
from services.runner.planning import entry, low_memory
from tests.ldap_server import Slapd
from tests.mysql_server import Server as MariaDb
from tests.sql_servers import sql_connection

from .conftest import RunServices
from .ldap_helpers import define, entries
from .previews import preview_json
from .test_directory_matrix_values import Harness, people_job
from .test_ldap_jobs import connections_toml

GROUPS = {"to": "businessCategory", "from": "groups", "delimiter": "|"}
STORED = {
    "merge": [b"Staff", b"wiki"],
    "keep": [b"Staff"],
    "force": [b"staff", b"wiki"],
}
"""What the entry holds after the second run, by the field's policy."""

BOSS = {"id": "p0", "cn": "Boss", "sn": "B", "groups": ""}
ROLE = {
    "type": "role",
    "keys": ["cn"],
    "source": {"file": "roles.csv"},
    "destination": {"object_classes": ["organizationalRole"]},
    "fields": [{"to": "cn", "from": "role"}, {"to": "description"}],
}


def shaped(shape: str, policy: str) -> dict[str, Any]:
    """The job of a shape, its people's businessCategory of the policy."""
    job = people_job({**GROUPS, "policy": policy}, type="user")
    if shape == "several types":
        job["objects"].append(ROLE)
    elif shape == "resolve":
        resolved = {"to": "manager", "from": "boss", "resolve": {"type": "user", "by": "uid"}}
        job["objects"][0]["fields"].append(resolved)
    return job


def rows(groups: str, shape: str) -> list[dict[str, str]]:
    person = {"id": "p1", "cn": "P 1", "sn": "P", "groups": groups}
    if shape == "resolve":
        return [BOSS | {"boss": ""}, person | {"boss": "p0"}]
    return [person]


@pytest.mark.parametrize("policy", list(STORED))
@pytest.mark.parametrize("shape", ["one type", "several types", "resolve", "key"])
async def test_a_policy_on_an_attribute_compared_without_case_writes_once(
    slapd: Slapd, ldap_base: str, tmp_path: Path, shape: str, policy: str
) -> None:
    h = Harness(slapd, ldap_base, tmp_path, shaped(shape, policy))
    if shape == "several types":
        h.write([{"role": "r1", "description": "first"}], "roles.csv")
    h.write(rows("Staff", shape))
    _, errors = await h.run()
    assert all(e is None for e in errors.values()), errors
    h.write(rows("staff|wiki", shape))
    keys = ["p1"] if shape == "key" else None
    second, errors = await h.run(keys)
    assert second.record_errors == [] and all(e is None for e in errors.values()), errors
    stored = {dn.split(",")[0].lower(): attrs for dn, attrs in h.entries().items()}
    assert stored["uid=p1"]["businessCategory"] == STORED[policy], stored["uid=p1"]
    again = await h.plan(keys)
    assert [(c.action, c.key) for c in again.plan.changes] == [], again.plan.changes
    assert [(c.action, c.key) for c in (await h.plan()).plan.changes] == []


def job_toml(base: str, policy: str) -> str:
    return f"""id = "merged"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "dir", container = "{base}" }}
safety = {{ max_percent = 100 }}
changes = {{ field = "at" }}

[[objects]]
keys = ["uid"]
destination = {{ object_classes = ["inetOrgPerson"] }}
fields = [
  {{ to = "uid", from = "id" }},
  {{ to = "cn" }},
  {{ to = "sn" }},
  {{ to = "businessCategory", from = "groups", delimiter = "|", policy = "{policy}" }},
]
"""


@pytest.mark.parametrize("policy", ["merge", "force"])
async def test_an_incremental_run_merges_as_the_directory_compares_and_previews_it(
    slapd: Slapd,
    ldap_base: str,
    tmp_path: Path,
    session: Session,
    settings: Settings,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
    policy: str,
) -> None:
    folder = tmp_path / "job"
    job = await define(
        session, folder, connections_toml(folder, slapd), job_toml(ldap_base, policy)
    )

    def write(groups: str, at: str) -> None:
        with (folder / "data" / "people.csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, delimiter=";")
            writer.writerow(["id", "cn", "sn", "groups", "at"])
            writer.writerow(["p1", "P 1", "P", groups, at])
            writer.writerow(["p2", "P 2", "P", "Staff", "2026-01-01T00:00:00Z"])

    async def run(changed: bool) -> RunFinished:
        options = ["--changed-only"] if changed else []
        previewed = await preview_json(settings, capsys, job, *options)
        _, end = await follow_run(session, job, None, changed_only=changed)
        assert isinstance(end, RunFinished), end
        assert end.plan_hash == previewed["plan_hash"], "the preview planned another plan"
        return end

    write("Staff", "2026-01-01T00:00:00Z")
    async with services():
        first = await run(changed=False)
        assert (first.stats.created, first.stats.failed) == (2, 0), first.stats
        write("staff|wiki", "2026-06-01T00:00:00Z")
        second = await run(changed=True)
        assert (second.stats.updated, second.stats.failed) == (1, 0), second.stats
        write("staff|wiki", "2026-07-01T00:00:00Z")
        third = await run(changed=True)
        assert (third.stats.written, third.stats.failed) == (0, 0), third.stats
    stored = {dn.split(",")[0].lower(): attrs for dn, attrs in entries(slapd, ldap_base).items()}
    assert stored["uid=p1"]["businessCategory"] == STORED[policy], stored["uid=p1"]


TABLE = "CREATE TABLE people (uid varchar(64) PRIMARY KEY, cn varchar(200), groups text)"
IN_TABLE = {"merge": "Staff|wiki", "keep": "Staff", "force": "staff|wiki"}


@pytest.mark.parametrize("policy", list(IN_TABLE))
async def test_a_table_comparing_text_without_case_merges_so_lean_and_in_memory(
    slapd: Slapd,
    tmp_path: Path,
    my_database: MariaDb,
    monkeypatch: pytest.MonkeyPatch,
    policy: str,
) -> None:
    """MariaDB's default collation compares text without case: "Staff|staff|wiki" would
    hold "staff" twice as the column compares it. The lean planner (as for a large table)
    and the one holding every record in memory plan alike: the same changes, the same
    hash."""
    merged = {"to": "groups", "delimiter": "|", "policy": policy}
    job = {
        "destination": {"connection": "db", "table": "people"},
        "objects": [
            {"keys": ["uid"], "fields": [{"to": "uid", "from": "id"}, {"to": "cn"}, merged]}
        ],
    }
    chosen: list[bool] = []

    async def choice(*args: Any) -> bool:
        chosen.append(lean and await low_memory.lean_enough(*args))
        return chosen[-1]

    monkeypatch.setattr(low_memory, "LEAN_ABOVE", -1)
    monkeypatch.setattr(entry, "lean_enough", choice)
    hashes: list[str] = []
    for lean in (True, False):
        my_database.sql("DROP TABLE IF EXISTS people")
        my_database.sql(TABLE)
        h = Harness(slapd, "", tmp_path, job)
        h.connections = (h.connections[0], sql_connection("mysql", my_database, h.folder, "db"))
        h.write([{"id": "p1", "cn": "P 1", "groups": "Staff"}])
        _, errors = await h.run()
        assert errors == {"p1": None}, errors
        h.write([{"id": "p1", "cn": "P 1", "groups": "staff|wiki"}])
        second, errors = await h.run()
        assert chosen[-1] == lean
        assert all(e is None for e in errors.values()), errors
        hashes.append(second.plan.hash)
        assert my_database.sql("SELECT groups FROM people").split() == [IN_TABLE[policy]]
        assert [c.action for c in (await h.plan()).plan.changes] == []
    assert hashes[0] == hashes[1], "planned lean and in memory otherwise"
