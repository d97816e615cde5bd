"""Values no destination can keep, through every service: a directory entry with two `cn`
for a single-valued column fails alone (never joined with ";"), or gives its first value
when the job says so; a CSV field holding a NUL fails its record, naming the field."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from schemas.events import RunFinished, RunPlanned
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.people import write_csv
from tests.ldap_server import Slapd

from .conftest import Files, RunServices, apply_files
from .test_flow import run_job, table
from .test_ldap_jobs import apply


def job_toml(base: str, cn: str) -> str:
    return f"""id = "dir-to-db"
source = {{ connection = "dir", container = "{base}", object_classes = ["inetOrgPerson"] }}
destination = {{ connection = "db", table = "people" }}
[[objects]]
keys = ["login"]
fields = [{{ to = "login", from = "uid" }}, {cn}, {{ to = "surname", from = "sn" }}]
"""


def person(base: str, uid: str, *names: str) -> str:
    cns = "".join(f"cn: {name}\n" for name in names)
    return f"dn: uid={uid},{base}\nobjectClass: inetOrgPerson\nuid: {uid}\n{cns}sn: {uid}\n\n"


async def planned_errors(session: Session, run_id: str) -> list[tuple[str, str, str]]:
    events = await session.journal()
    [announced] = [e for e in events if isinstance(e, RunPlanned) and e.run_id == run_id]
    return [(e.key, e.action, e.message) for e in announced.errors]


async def test_two_values_of_a_directory_attribute_fail_the_record_or_give_the_first(
    slapd: Slapd, ldap_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    slapd.ldapadd(
        person(ldap_base, "alice", "Alice Smith", "Alice S.")
        + person(ldap_base, "bob", "Bob Jones")
        + person(ldap_base, "carol", "Carol King")
    )
    folder = tmp_path / "job"
    job = await apply(session, folder, slapd, job_toml(ldap_base, '{ to = "name", from = "cn" }'))
    database = folder / "data" / "directory.db"
    async with services():
        run_id, end = await follow_run(session, job, None)
        assert isinstance(end, RunFinished)
        assert (end.stats.created, end.stats.failed, end.with_errors) == (2, 1, True)
        assert await planned_errors(session, run_id) == [
            (
                "alice",
                "map",
                'name: 2 values of cn ("Alice Smith", "Alice S.") for a field without a '
                "delimiter, which holds one; add a delimiter to keep them all, or "
                'if_several = "first" to take the first',
            )
        ]
        assert names(database) == {"bob": "Bob Jones", "carol": "Carol King"}

        first = '{ to = "name", from = "cn", if_several = "first" }'
        await apply(session, folder, slapd, job_toml(ldap_base, first))
        _, end = await follow_run(session, job, None)
        assert isinstance(end, RunFinished)
        assert (end.stats.created, end.stats.failed, end.stats.unchanged) == (1, 0, 2)
    assert names(database) == {"alice": "Alice Smith", "bob": "Bob Jones", "carol": "Carol King"}


def names(database: Path) -> dict[str, str]:
    with sqlite3.connect(database) as db:
        found = {login: name for login, name in db.execute("SELECT login, name FROM people")}
    db.close()
    return found


async def test_a_nul_in_a_csv_field_fails_that_record_naming_the_field(
    files: Files, session: Session, services: RunServices
) -> None:
    rows = files.write(count=10)
    rows[3]["last_name"] = "Smi\x00th"
    write_csv(files.csv, rows)
    assert b"Smi\x00th" in files.csv.read_bytes()
    await apply_files(session, files)
    async with services():
        end = await run_job(session)
    assert (end.stats.created, end.stats.failed) == (9, 1)
    failing = rows[3]["employee_id"]
    assert failing not in table(files.db) and len(table(files.db)) == 9
    [announced] = [e for e in await session.journal() if isinstance(e, RunPlanned)]
    [error] = announced.errors
    assert (error.key, error.action) == (failing, "map")
    assert error.message.startswith(
        'surname: a control character (NUL, U+0000) at character 4 of "Smi\\u0000th"'
    )
