"""Who may change a job or a connection, and which connections an owned job may use (pure)."""

from __future__ import annotations

import pytest

from core.checks.ownership import (
    connection_change_problem,
    job_change_problem,
    unowned_connection_problems,
)
from schemas.connections import Connection, CsvConnection, SqliteConnection
from schemas.jobs import Endpoint, Job, ObjectMapping


def job(job_id: str, source: str, destination: str, owners: list[str] | None = None) -> Job:
    return Job(
        id=job_id,
        source=Endpoint(connection=source),
        destination=Endpoint(connection=destination),
        objects=[ObjectMapping(keys=["id"])],
        owners=owners or [],
    )


def db(owners: list[str] | None = None) -> Connection:
    return SqliteConnection(id="db", path="/srv/db.sqlite", owners=owners or [])


HR = CsvConnection(id="hr", directory="/srv/hr", owners=["ada"])
ADAS = job("ada-job", "hr", "db", owners=["ada"])
BOBS = job("bob-job", "hr", "db", owners=["Bob"])
ANYONES = job("open-job", "hr", "db")


@pytest.mark.parametrize(
    ("who", "stored", "jobs", "refused"),
    [
        ("dave", None, [ADAS], None),  # a new connection: anyone may add it
        ("dave", db(), [ANYONES], None),  # no owners, no owned job uses it
        ("ADA", db(["ada"]), [], None),  # compared casefolded
        ("dave", db(["ada", "bob"]), [], "connection db is owned by ada, bob: only they"),
        ("ada", db(["ada"]), [BOBS], None),  # the connection's owners decide, not the jobs'
        ("dave", db(), [ADAS], "owned jobs use it — job ada-job (owners: ada)"),
        ("ada", db(), [ADAS, ANYONES], None),
        ("ada", db(), [ADAS, BOBS], "job bob-job (owners: Bob)"),  # every job's owner
        ("bob", db(), [ADAS, BOBS], "job ada-job (owners: ada)"),
    ],
)
def test_who_may_change_a_connection(
    who: str, stored: Connection | None, jobs: list[Job], refused: str | None
) -> None:
    problem = connection_change_problem(who, "db", stored, jobs)
    if refused is None:
        assert problem is None
    else:
        assert problem is not None and refused in problem


def test_a_job_that_lists_owners_is_changed_by_them_alone() -> None:
    assert job_change_problem("bob", ADAS, "change") == (
        "job ada-job is owned by ada: only they may change it (ask one of them)"
    )
    assert job_change_problem("Ada", ADAS, "delete") is None
    assert job_change_problem("bob", ANYONES, "delete") is None
    assert job_change_problem("bob", None, "change") is None


def test_an_owned_job_uses_only_owned_connections() -> None:
    connections = {"hr": HR, "db": db()}
    (problem,) = unowned_connection_problems(ADAS, connections)
    assert problem.startswith("$.destination.connection: connection db lists no owners")
    assert 'owners = ["ada"]' in problem
    assert unowned_connection_problems(ADAS, {"hr": HR, "db": db(["carol"])}) == []
    assert unowned_connection_problems(ANYONES, connections) == []  # nobody owns it
    assert unowned_connection_problems(ADAS, {"hr": HR}) == []  # unknown: check_job says so
