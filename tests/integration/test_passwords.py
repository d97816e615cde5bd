"""Generated passwords: made when a create is applied, kept by the destination alone."""

from __future__ import annotations

import logging
import sqlite3

from nats.js.errors import NotFoundError

from schemas.events import RunFinished, encode_event
from schemas.work import decode_plan
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.jetstream import PLANS_BUCKET
from services.common.people import people, write_csv
from services.common.stored_plans import batch_name

from ..log_capture import logged
from .conftest import CONNECTIONS, JOB_ID, Files, RunServices, apply_files

JOB = f"""\
id = "{JOB_ID}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "db", table = "people" }}

[[objects]]
keys = ["employee_id"]
fields = [
  {{ to = "employee_id" }},
  {{ to = "surname", from = "last_name" }},
  {{ to = "password", transform = {{ password = 14, ad_complexity = true, avoid = ["surname"] }} }},
]
"""


async def test_each_created_record_gets_a_password_that_nothing_else_ever_sees(
    files: Files, session: Session, services: RunServices
) -> None:
    write_csv(files.csv, people(25))
    files.connections.write_text(CONNECTIONS)
    files.job.write_text(JOB)
    await apply_files(session, files)
    with logged(logging.DEBUG) as logs:
        async with services():
            run_id, first = await follow_run(session, JOB_ID, None)
            _, again = await follow_run(session, JOB_ID, None)
    assert isinstance(first, RunFinished) and first.stats.created == 25
    assert isinstance(again, RunFinished) and again.stats.unchanged == 25, "never re-generated"
    with sqlite3.connect(files.db) as conn:
        rows = dict(conn.execute("SELECT password, surname FROM people").fetchall())
    passwords = list(rows)
    assert len(set(passwords)) == 25 and all(len(p) == 14 for p in passwords)
    for password, surname in rows.items():
        kinds = [
            any(c.isupper() for c in password),
            any(c.islower() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
        assert sum(kinds) >= 3, "Active Directory complexity"
        assert surname.casefold() not in password.casefold()
    journal = b"".join(encode_event(e) for e in await session.journal())
    store = await session.js.object_store(PLANS_BUCKET)
    try:
        plan = (await store.get(run_id)).data or b""
    except NotFoundError:
        plan = b""
    assert plan, "the run's plan was stored"
    for number in range(1, sum(decode_plan(plan).batches) + 1):  # each batch kept apart
        plan += (await store.get(batch_name(run_id, number))).data or b""
    for password in passwords:
        needle = password.encode()
        assert needle not in journal and needle not in plan
        assert password not in logs.getvalue()
