"""Safety limits: a plan over them writes nothing and waits for approval of that plan."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import sqlite3

import msgspec

from schemas.events import Event, RunAwaitingApproval, RunDenied, RunFailed, RunFinished, is_end
from services.cli.client import Session
from services.cli.watch import follow_run, stops
from services.common.people import write_csv

from .conftest import JOB_ID, Files, RunServices, apply_files
from .journal import wait_for_event

FIVE_PERCENT = "safety = { max_percent = 5 }"


def count(files: Files) -> int:
    with sqlite3.connect(files.db) as conn:
        return int(conn.execute("SELECT count(*) FROM people").fetchone()[0])


async def run(session: Session) -> tuple[str, object]:
    return await follow_run(session, JOB_ID, None)


async def asked_again(session: Session, run_id: str, approved: str | None) -> Event:
    """The run's next wait for approval: a plan other than the one approved."""
    return await wait_for_event(
        session,
        lambda e: (
            isinstance(e, RunAwaitingApproval) and e.run_id == run_id and e.plan_hash != approved
        ),
    )


async def test_over_the_limit_nothing_is_written_until_the_plan_is_approved(
    files: Files, session: Session, services: RunServices
) -> None:
    people = files.write(count=1_000, extra=FIVE_PERCENT)
    await apply_files(session, files)
    async with services():
        _, first = await run(session)
        assert isinstance(first, RunFinished) and first.stats.created == 1_000
        write_csv(files.csv, people[51:])  # 51 absent: over 5% of 1,000
        run_id, waiting = await run(session)
        assert isinstance(waiting, RunAwaitingApproval), waiting
        assert "51 deletes exceed the limit of 50" in waiting.reason
        assert waiting.counts is not None and waiting.counts.delete == 51
        assert count(files) == 1_000, "nothing written while waiting"
        await session.decide("approve", run_id)
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunFinished) and end.stats.deleted == 51
    assert count(files) == 949


async def test_under_the_limit_the_run_goes_ahead(
    files: Files, session: Session, services: RunServices
) -> None:
    people = files.write(count=1_000, extra=FIVE_PERCENT)
    await apply_files(session, files)
    async with services():
        await run(session)
        write_csv(files.csv, people[49:])  # 49 absent: within 5%
        _, end = await run(session)
    assert isinstance(end, RunFinished) and end.stats.deleted == 49
    assert count(files) == 951


async def test_a_small_table_loses_a_few_without_approval_but_not_most(
    files: Files, session: Session, services: RunServices
) -> None:
    people = files.write(count=8)  # the default limits: 10% of 8 is 0, min_count is 3
    await apply_files(session, files)
    async with services():
        await run(session)
        write_csv(files.csv, people[1:])
        _, end = await run(session)
        assert isinstance(end, RunFinished) and end.stats.deleted == 1
        write_csv(files.csv, people[5:])  # 4 of the 7 left: more than min_count
        _, waiting = await run(session)
    assert isinstance(waiting, RunAwaitingApproval), waiting
    assert waiting.reason == "4 deletes exceed the limit of 3 (the job's safety.min_count)"
    assert count(files) == 7


async def test_an_empty_source_waits_and_a_denial_ends_the_run_writing_nothing(
    files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=30)
    await apply_files(session, files)
    async with services():
        await run(session)
        write_csv(files.csv, [])  # the export came back with its header only
        run_id, waiting = await run(session)
        assert isinstance(waiting, RunAwaitingApproval) and "no records" in waiting.reason
        await session.decide("deny", run_id, "the HR export failed")
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunDenied) and end.reason == "the HR export failed"
    assert count(files) == 30


async def test_an_approval_is_for_one_plan_if_the_data_changed_it_asks_again(
    files: Files, session: Session, services: RunServices
) -> None:
    people = files.write(count=1_000, extra=FIVE_PERCENT)
    await apply_files(session, files)
    async with services():
        await run(session)
        write_csv(files.csv, people[60:])
        run_id, waiting = await run(session)
        assert isinstance(waiting, RunAwaitingApproval)
        write_csv(files.csv, people[70:])  # the data changes before the approval
        await session.decide("approve", run_id)
        again = await asked_again(session, run_id, waiting.plan_hash)
    assert (
        isinstance(again, RunAwaitingApproval) and "data or the connections changed" in again.reason
    )
    assert again.counts is not None and again.counts.delete == 70
    assert count(files) == 1_000


async def test_a_plan_using_the_run_s_clock_runs_once_approved(
    files: Files, session: Session, services: RunServices
) -> None:
    """A plan depending on the run's clock (%NOW%) is planned again, once approved, with
    the clock it was first planned with: the very plan approved, not one asked again."""
    people = files.write(count=1_000, extra=FIVE_PERCENT)
    stamped = '{ to = "department" },\n  { to = "created_at", create_only = true, '
    stamped += 'transform = { static = "%NOW%" } },'
    files.job.write_text(files.job.read_text().replace('{ to = "department" },', stamped))
    await apply_files(session, files)
    async with services():
        await run(session)
        newcomer = {**people[0], "employee_id": "E9999999", "email": "new@example.org"}
        write_csv(files.csv, [*people[60:], newcomer])  # 60 deletes: over 5% of 1,000
        run_id, waiting = await run(session)
        assert isinstance(waiting, RunAwaitingApproval), waiting
        await asyncio.sleep(1.1)  # %NOW% says seconds: the approval comes a second later
        await session.decide("approve", run_id)
        end = await wait_for_event(
            session,
            lambda e: (
                (is_end(e) or isinstance(e, RunAwaitingApproval))
                and e.run_id == run_id
                and e.id != waiting.id
            ),
        )
    assert isinstance(end, RunFinished), end
    assert (end.stats.deleted, end.stats.created) == (60, 1)
    assert count(files) == 941


async def test_a_run_scoped_to_some_keys_never_deletes(
    files: Files, session: Session, services: RunServices
) -> None:
    people = files.write(count=100, extra=FIVE_PERCENT)
    await apply_files(session, files)
    async with services():
        await run(session)
        people[5]["department"] = "Elsewhere"
        write_csv(files.csv, people[5:6])  # only one person left in the export
        _, end = await follow_run(session, JOB_ID, [people[5]["employee_id"]])
    assert isinstance(end, RunFinished)
    assert (end.stats.updated, end.stats.deleted) == (1, 0)
    assert count(files) == 100


async def test_staging_plans_and_reports_but_never_writes(
    files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=40, extra="staging = true")
    await apply_files(session, files)
    async with services():
        _, end = await run(session)
    assert isinstance(end, RunFinished) and end.staged
    assert end.stats.written == 0 and end.stats.read == 40
    assert not files.db.exists() or count(files) == 0
    assert stops(end)


async def test_an_approval_is_for_one_destination_a_changed_connection_asks_again(
    files: Files, session: Session, services: RunServices
) -> None:
    people = files.write(count=1_000, extra=FIVE_PERCENT)
    await apply_files(session, files)
    async with services():
        await run(session)
        write_csv(files.csv, people[60:])
        run_id, waiting = await run(session)
        assert isinstance(waiting, RunAwaitingApproval)
        elsewhere = files.db.with_name("elsewhere.db")
        shutil.copyfile(files.db, elsewhere)  # the same rows, in another place
        db = await session.store.connection("db")
        await session.store.put_connection(msgspec.structs.replace(db, path=str(elsewhere)))
        await session.decide("approve", run_id)
        again = await asked_again(session, run_id, waiting.plan_hash)
    assert isinstance(again, RunAwaitingApproval) and "changed" in again.reason
    assert again.counts is not None and again.counts.delete == 60, "the same changes"
    assert count(files) == 1_000
    with sqlite3.connect(elsewhere) as conn:
        assert conn.execute("SELECT count(*) FROM people").fetchone()[0] == 1_000


async def test_a_source_without_the_key_column_fails_the_run_and_deletes_nothing(
    files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=30, extra="safety = { max_percent = 100 }")
    await apply_files(session, files)
    async with services():
        await run(session)
        text = files.csv.read_text().replace("employee_id", "employee_number", 1)
        files.csv.write_text(text)  # the export renamed its key column
        _, end = await run(session)
    assert isinstance(end, RunFailed), end
    assert "$.objects[0].fields[0].to: the source has no field 'employee_id'" in end.reason
    assert "(its fields: employee_number, first_name" in end.reason
    assert count(files) == 30


SEVERAL_TYPES = f"""\
id = "{JOB_ID}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "dir" }}
safety = {{ max_percent = 5 }}

[[objects]]
type = "user"
keys = ["employee_id"]
on_destination_only = "delete"
destination = {{ query = "users" }}
fields = [{{ to = "employee_id" }}, {{ to = "department" }}]

[[objects]]
type = "group"
keys = ["id"]
on_destination_only = "delete"
source = {{ file = "groups.csv" }}
destination = {{ query = "groups" }}
fields = [{{ to = "id" }}, {{ to = "title" }}]
"""


class Directory:
    """A job of people and groups into a directory (tests/plugins/lifecycle.py)."""

    def __init__(self, files: Files, people: int, groups: int) -> None:
        self.files = files
        self.stored = files.folder / "directory.json"
        files.write(count=people)
        files.job.write_text(SEVERAL_TYPES)
        files.connections.write_text(
            '[hr]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ";"\n\n'
            '[dir]\nprovider = "plugin"\nfactory = "tests.plugins.lifecycle:LifecycleProvider"\n'
            f'options = {{ path = "{self.stored}" }}\n'
        )
        self.write_groups(groups)

    def write_groups(self, groups: int) -> None:
        with (self.files.folder / "data" / "groups.csv").open("w", newline="") as out:
            writer = csv.writer(out, delimiter=";")
            writer.writerow(["id", "title"])
            writer.writerows([f"g{n}", f"Team {n}"] for n in range(groups))

    def held(self) -> tuple[int, int]:
        """How many people and groups the directory holds."""
        stored = json.loads(self.stored.read_text())
        return len(stored["users"]["objects"]), len(stored["groups"]["objects"])


async def test_each_type_of_a_job_is_held_to_its_own_limit(
    files: Files, session: Session, services: RunServices
) -> None:
    """Deleting half the 20 groups of a job that also holds 1,000 people waits, as a job
    of groups alone would: weighed against every object, 10 deletes were within 5%."""
    directory = Directory(files, 1_000, 20)
    await apply_files(session, files)
    async with services():
        _, first = await run(session)
        assert isinstance(first, RunFinished) and first.stats.created == 1_020
        directory.write_groups(10)
        run_id, waiting = await run(session)
        assert isinstance(waiting, RunAwaitingApproval), waiting
        assert waiting.reason == (
            "group: 10 deletes exceed the limit of 3 (the job's safety.min_count)"
        )
        assert directory.held() == (1_000, 20), "nothing written while waiting"
        await session.decide("approve", run_id)
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunFinished) and end.stats.deleted == 10
    assert directory.held() == (1_000, 10)


async def test_one_type_whose_source_comes_back_empty_waits(
    files: Files, session: Session, services: RunServices
) -> None:
    """The groups' export comes back with its header only while the people's is whole:
    the run waits, as a job of groups alone would, rather than delete every group."""
    directory = Directory(files, 100, 2)
    await apply_files(session, files)
    async with services():
        await run(session)
        directory.write_groups(0)
        run_id, waiting = await run(session)
        assert isinstance(waiting, RunAwaitingApproval), waiting
        assert waiting.reason == (
            "group: the source returned no records while the destination holds 2 objects; "
            "2 deletes exceed the limit of 1 (safety.min_count, at most half of 2 objects)"
        )
        await session.decide("deny", run_id, "the groups export failed")
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunDenied)
    assert directory.held() == (100, 2)
