"""A destination's `query` scopes the entries a job owns: a create whose written values
put its entry out of it would be made once and never read again (created anew by every
run, or failing every run after the first, never updated nor deleted). Such a record
fails alone when the run is planned — in the preview as in the run, naming the query
and the values —, nothing written for it; one whose values the server completes (an
operational attribute, a superior class) is created as ever. In every shape of job: one
type, several, a run scoped to keys, through the services (its preview plans what it
runs, the same hash)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.settings import Settings
from tests.ldap_server import Slapd

from .conftest import RunServices
from .ldap_helpers import define, entries
from .previews import preview_json
from .test_directory_matrix_values import Harness, people_job
from .test_ldap_jobs import connections_toml

QUERY = "(&(objectClass=person)(|(employeeType=managed)(employeeType=staff*)))"
ROLE = {
    "type": "role",
    "keys": ["cn"],
    "source": {"file": "roles.csv"},
    "destination": {"object_classes": ["organizationalRole"], "query": "(objectClass=*)"},
    "fields": [{"to": "cn", "from": "role"}],
}
PEOPLE = [
    {"id": "p1", "cn": "P 1", "sn": "P", "kind": "managed"},
    {"id": "p2", "cn": "P 2", "sn": "P", "kind": "MANAGED"},  # the attribute ignores case
    {"id": "p3", "cn": "P 3", "sn": "P", "kind": "Staff member"},  # (employeeType=staff*)
    {"id": "p4", "cn": "P 4", "sn": "P", "kind": "contractor"},
    {"id": "p5", "cn": "P 5", "sn": "P", "kind": ""},  # none written
]


def job(shape: str, query: str = QUERY) -> dict[str, Any]:
    made = people_job({"to": "employeeType", "from": "kind"}, type="user")
    if shape == "several types":
        made["objects"].append(ROLE)
    made["objects"][0]["destination"]["query"] = query
    return made


@pytest.mark.parametrize("shape", ["one type", "several types", "key"])
async def test_a_create_out_of_the_query_fails_alone_before_anything_is_written(
    slapd: Slapd, ldap_base: str, tmp_path: Path, shape: str
) -> None:
    h = Harness(slapd, ldap_base, tmp_path, job(shape))
    h.write(PEOPLE)
    if shape == "several types":
        h.write([{"role": "r1"}], "roles.csv")
    keys = ["p1", "p4"] if shape == "key" else None
    first, errors = await h.run(keys)
    made = {dn.split(",")[0] for dn in h.entries()}
    assert made == ({"uid=p1"} if keys else {"uid=p1", "uid=p2", "uid=p3"}), made
    assert all(e is None for e in errors.values()), errors
    refused = {e.key: e for e in first.record_errors}
    assert set(refused) == ({"p4"} if keys else {"p4", "p5"}), first.record_errors
    assert refused["p4"].action == "create" and refused["p4"].object_type == "user"
    assert QUERY in refused["p4"].message and "employeeType: 'contractor'" in refused["p4"].message
    if not keys:
        assert "employeeType" not in refused["p5"].message.split("(", 1)[0]
        assert "none of the attributes it asks for" in refused["p5"].message
    assert first.plan.counts.create == (1 if keys else 3) + (shape == "several types")
    again = await h.plan(keys)
    assert [c.action for c in again.plan.changes] == [], again.plan.changes
    assert {e.key for e in again.record_errors} == set(refused)


@pytest.mark.parametrize(
    "query",
    [
        "(&(objectClass=inetOrgPerson)(entryUUID=*))",  # the server sets it
        "(&(objectClass=top)(objectClass=person))",  # superior classes of inetOrgPerson
        "(&(objectClass=inetOrgPerson)(name=P 4))",  # cn and sn are names too
        "(&(objectClass=inetOrgPerson)(createTimestamp>=20000101000000Z))",  # an ordering
    ],
    ids=["operational", "superior classes", "supertype", "ordering"],
)
async def test_a_create_the_written_values_do_not_decide_is_made(
    slapd: Slapd, ldap_base: str, tmp_path: Path, query: str
) -> None:
    h = Harness(slapd, ldap_base, tmp_path, job("one type", query))
    h.write([PEOPLE[3]])
    first, errors = await h.run()
    assert first.record_errors == [] and errors == {"p4": None}, first.record_errors
    assert [dn.split(",")[0] for dn in h.entries()] == ["uid=p4"]
    assert [c.action for c in (await h.plan()).plan.changes] == []


def job_toml(base: str) -> str:
    return f"""id = "queried"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "dir", container = "{base}", query = "{QUERY}" }}
safety = {{ max_percent = 100 }}

[[objects]]
keys = ["uid"]
destination = {{ object_classes = ["inetOrgPerson"] }}
fields = [
  {{ to = "uid", from = "id" }},
  {{ to = "cn" }},
  {{ to = "sn" }},
  {{ to = "employeeType", from = "kind" }},
]
"""


async def test_the_preview_fails_the_create_out_of_the_query_as_the_run_does(
    slapd: Slapd,
    ldap_base: str,
    tmp_path: Path,
    session: Session,
    settings: Settings,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "job"
    job_id = await define(session, folder, connections_toml(folder, slapd), job_toml(ldap_base))
    with (folder / "data" / "people.csv").open("w", encoding="utf-8") as out:
        out.write("id;cn;sn;kind\n")
        out.writelines(f"{p['id']};{p['cn']};{p['sn']};{p['kind']}\n" for p in PEOPLE)
    previewed = await preview_json(settings, capsys, job_id)
    async with services():
        _, end = await follow_run(session, job_id, None)
    assert isinstance(end, RunFinished), end
    assert end.plan_hash == previewed["plan_hash"], "the preview planned another plan"
    assert (end.stats.created, end.stats.failed) == (3, 2), end.stats
    assert "out of the destination's query" in str(previewed), previewed
    made = {dn.split(",")[0] for dn in entries(slapd, ldap_base)}
    assert made == {"uid=p1", "uid=p2", "uid=p3"}, made
