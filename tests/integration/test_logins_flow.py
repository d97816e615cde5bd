"""Logins and addresses made from names through the services (CSV → SQLite): a template,
ASCII folding, and a free variant for each new person whose login or address is taken —
by someone in the table, by another new person of the same run, or by someone outside a
run scoped to some keys. Planned from records and from digests (planning/low_memory.py) alike."""

from __future__ import annotations

import pytest

from schemas.events import RunFinished, RunPlanned
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.people import write_csv
from services.runner.planning import low_memory as lean
from services.runner.planning import open_sides, plan_job

from .conftest import CONNECTIONS, JOB_ID, Files, RunServices, apply_files
from .test_flow import run_job, table

# TOML inline tables stay on one line: each field map is put together here.
LOGIN = (
    '{ to = "uid", create_only = true, unique = true, '
    'transform = [{ format = "{first_name:.1}{last_name}" }, "ascii", "lower"] }'
)
MAIL = (
    '{ to = "mail", create_only = true, unique = { before = "@" }, '
    'transform = [{ format = "{first_name}.{last_name}@example.org" }, "ascii", "lower", '
    '{ replace = " ", with = "-" }] }'
)
JOB = f"""\
id = "{JOB_ID}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "db", table = "people" }}

[[objects]]
keys = ["employee_id"]
fields = [
  {{ to = "employee_id" }},
  {{ to = "cn", transform = {{ join = ["first_name", "last_name"] }} }},
  {LOGIN},
  {MAIL},
]
"""


def row(number: int, first: str, last: str) -> dict[str, str]:
    return {
        "employee_id": f"E{number:03d}",
        "first_name": first,
        "last_name": last,
        "email": "",
        "department": "",
        "title": "",
        "groups": "",
    }


def made(files: Files) -> dict[str, tuple[str | None, str | None]]:
    return {key: (r["uid"], r["mail"]) for key, r in table(files.db).items()}


@pytest.mark.parametrize("lean_above", [0, 10**9], ids=["digests", "records"])
async def test_new_people_get_free_logins_and_addresses(
    lean_above: int,
    files: Files,
    session: Session,
    services: RunServices,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lean, "LEAN_ABOVE", lean_above)
    rows = [row(5, "Zoë", "Ångström"), row(2, "Zoe", "Angstrom"), row(3, "Łukasz", "Nørgaard")]
    write_csv(files.csv, rows)
    files.connections.write_text(CONNECTIONS)
    files.job.write_text(JOB)
    await apply_files(session, files)
    async with services():
        first = await run_job(session)
        assert first.stats.created == 3
        assert made(files) == {  # the same login twice in one run: key order decides
            "E002": ("zangstrom", "zoe.angstrom@example.org"),
            "E003": ("lnorgaard", "lukasz.norgaard@example.org"),
            "E005": ("zangstrom2", "zoe.angstrom2@example.org"),
        }

        rows += [row(9, "ZOË", "ÅNGSTRÖM"), row(7, "Zacharias", "Ångström")]
        write_csv(files.csv, rows)
        job = await session.store.job(JOB_ID)
        async with open_sides(session.store, job) as sides:
            preview = await plan_job(job, sides)
        second = await run_job(session)
        (planned,) = [
            e
            for e in await session.journal()
            if isinstance(e, RunPlanned) and e.run_id == second.run_id
        ]
        assert planned.plan_hash == preview.plan.hash, "the preview plans what the run applies"
        assert second.stats.created == 2 and second.stats.updated == 0, "the others keep theirs"
        stored = made(files)
        assert stored["E007"] == ("zangstrom3", "zacharias.angstrom@example.org")
        assert stored["E009"] == ("zangstrom4", "zoe.angstrom3@example.org")  # case ignored

        rows.append(row(11, "Łukasz", "Nørgaard"))  # a run for this one person only
        write_csv(files.csv, rows)
        _, third = await follow_run(session, JOB_ID, ["E011"])
    assert isinstance(third, RunFinished) and third.stats.created == 1
    assert made(files)["E011"] == ("lnorgaard2", "lukasz.norgaard2@example.org")
