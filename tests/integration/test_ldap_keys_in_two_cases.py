"""Two source rows whose keys differ only in case ("R.Ouazana", "r.ouazana"), written to
a real slapd keyed on uid (which compares values without case) by a job comparing keys
with case: one entry for both, so the run and its preview refuse them, naming both,
and nothing is written; once the source holds each key once, the run settles."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.engine import DuplicateKey
from schemas.events import RunFailed
from services.cli.client import Session
from services.cli.watch import follow_run
from services.runner.planning import open_sides, plan_job
from tests.ldap_server import Slapd

from .conftest import RunServices
from .ldap_helpers import entries
from .test_ldap_jobs import apply, run

ROWS = [
    "login;name;last",
    "a.martin;Alice Martin;Martin",
    "R.Ouazana;Raphaël Ouazana;Ouazana",
    "r.ouazana;Rachel Ouazana;Ouazana",
]


def job_toml(base: str) -> str:
    return f"""id = "hr-cases"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "dir", container = "{base}", object_classes = ["inetOrgPerson"] }}
[[objects]]
keys = ["uid"]
on_destination_only = "delete"
fields = [
  {{ to = "uid", from = "login" }},
  {{ to = "cn", from = "name" }},
  {{ to = "sn", from = "last" }},
]
"""


async def test_keys_alike_but_for_case_are_refused_and_nothing_is_written(
    slapd: Slapd, ldap_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    job_id = await apply(session, folder, slapd, job_toml(ldap_base))
    people = folder / "data" / "people.csv"
    people.write_text("\n".join(ROWS) + "\n", encoding="utf-8")

    job = await session.store.job(job_id)
    async with open_sides(session.store, job) as sides:
        with pytest.raises(DuplicateKey) as previewed:
            await plan_job(job, sides)
    refusal = str(previewed.value)
    assert "'R.Ouazana' in two cases" in refusal
    assert "Raphaël Ouazana" in refusal and "Rachel Ouazana" in refusal

    async with services():
        _, end = await follow_run(session, job_id, None)
        assert isinstance(end, RunFailed), end
        assert refusal in end.reason
        assert entries(slapd, ldap_base) == {}

        people.write_text("\n".join(ROWS[:3]) + "\n", encoding="utf-8")
        first = await run(session, job_id)
        assert (first.stats.created, first.stats.failed) == (2, 0)
        stored = entries(slapd, ldap_base)
        assert stored[f"uid=R.Ouazana,{ldap_base}"]["cn"] == ["Raphaël Ouazana".encode()]
        again = await run(session, job_id)
        assert (again.stats.written, again.stats.unchanged) == (0, 2)
