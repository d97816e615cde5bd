"""`idsync job list`'s filters and orders (core/job_list.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.job_list import Filters, listing
from core.runs import RunStory
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping


def job(job_id: str, source: str, destination: str, **more: object) -> Job:
    return Job(
        id=job_id,
        source=Endpoint(connection=source, file="x.csv"),
        destination=Endpoint(connection=destination, table="t"),
        objects=[ObjectMapping(keys=["id"], fields=[FieldMap(to="id")])],
        **more,  # type: ignore[arg-type]
    )


JOBS = [
    job("hr-to-db", "hr", "db", title="HR to the database", owners=["ada"]),
    job("hr-to-ldap", "hr", "ldap", title="Leavers", owners=["bob"], enabled=False),
    job("crm-sync", "crm", "db", title="CRM contacts"),
]


def run(job_id: str, day: int, state: str) -> RunStory:
    at = datetime(2026, 3, day, 6, tzinfo=UTC)
    return RunStory(run_id=f"r{day}-{job_id}", job_id=job_id, state=state, requested_at=at)


RUNS = [
    run("hr-to-db", 1, "finished"),
    run("hr-to-db", 2, "failed"),
    run("hr-to-db", 3, "finished with errors"),
    run("crm-sync", 5, "finished"),
]


def ids(filters: Filters | None = None, order: str = "id") -> list[str]:
    return [item.job.id for item in listing(JOBS, RUNS, filters, order)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(), ["crm-sync", "hr-to-db", "hr-to-ldap"]),
        (Filters(name="HR"), ["hr-to-db", "hr-to-ldap"]),
        (Filters(name="leavers"), ["hr-to-ldap"]),  # the title
        (Filters(name="*-to-d?"), ["hr-to-db"]),
        (Filters(source="hr"), ["hr-to-db", "hr-to-ldap"]),
        (Filters(destination="db"), ["crm-sync", "hr-to-db"]),
        (Filters(owner="Ada"), ["hr-to-db"]),
        (Filters(enabled=False), ["hr-to-ldap"]),
        (Filters(outcome="finished with errors"), ["hr-to-db"]),
        (Filters(outcome="finished"), ["crm-sync"]),  # the last run only
        (Filters(outcome="never"), ["hr-to-ldap"]),
        (Filters(source="hr", enabled=True), ["hr-to-db"]),
    ],
)
def test_filters(filters: Filters, expected: list[str]) -> None:
    assert ids(filters) == expected


def test_orders_by_last_run_and_times_run() -> None:
    assert ids(order="last-run") == ["crm-sync", "hr-to-db", "hr-to-ldap"]
    assert ids(order="times-run") == ["hr-to-db", "crm-sync", "hr-to-ldap"]
    listed = {item.job.id: item for item in listing(JOBS, RUNS)}
    assert (listed["hr-to-db"].times_run, listed["hr-to-db"].outcome) == (
        3,
        "finished with errors",
    )
    assert listed["hr-to-ldap"].last is None and listed["hr-to-ldap"].outcome == "never"
