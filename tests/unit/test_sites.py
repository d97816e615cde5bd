"""Sites (core/sites.py, the checks, a run's story): which runners a job's runs go to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.checks.connections import check_connections
from core.checks.job import check_job
from core.errors import BadInput
from core.runs import fold
from core.sites import site_of
from schemas.connections import Connection, CsvConnection, SqliteConnection
from schemas.events import Event, RunApproved, RunStarted, RunWaitingForSite
from schemas.jobs import Endpoint, Job, ObjectMapping
from schemas.subjects import ALL_WORK, site_plan_subject, site_work, work_subject
from services.providers import FACTS


def job(source: str = "hr", destination: str = "db") -> Job:
    return Job(
        id="hr-to-db",
        source=Endpoint(connection=source, file="people.csv"),
        destination=Endpoint(connection=destination, table="people"),
        objects=[ObjectMapping(keys=["id"])],
    )


def connections(hr_site: str = "", db_site: str = "") -> dict[str, Connection]:
    return {
        "hr": CsvConnection(id="hr", directory="/srv/hr", site=hr_site),
        "db": SqliteConnection(id="db", path="/srv/db.sqlite", site=db_site),
    }


@pytest.mark.parametrize(
    ("hr_site", "db_site", "site"),
    [
        ("", "", ""),  # central: every central runner
        ("", "branch", "branch"),  # the destination in a site
        ("branch", "", "branch"),  # the source in a site
        ("branch", "branch", "branch"),  # both in one site
    ],
)
def test_a_job_lives_in_the_site_of_its_source_or_destination(
    hr_site: str, db_site: str, site: str
) -> None:
    assert site_of(job(), connections(hr_site, db_site)) == site
    check_job(job(), connections(hr_site, db_site), FACTS)


def test_a_job_between_two_sites_is_refused_naming_both() -> None:
    two = connections("paris", "lyon")
    with pytest.raises(BadInput, match="source 'hr' in site 'paris' and destination 'db'"):
        site_of(job(), two)
    with pytest.raises(BadInput, match=r"\$\.destination\.connection: .*no runner reaches two"):
        check_job(job(), two, FACTS)


def test_a_site_is_a_slug() -> None:
    bad = CsvConnection(id="hr", directory="/srv/hr", site="north.east")
    with pytest.raises(BadInput, match=r"f\.toml: \[hr\]\.site: expected a slug.*north\.east"):
        check_connections([bad], FACTS, origin="f.toml")


def test_a_sites_subjects_are_its_own_and_outside_the_central_work() -> None:
    assert work_subject("j", "branch") == "idsync.site.branch.work.j"
    assert work_subject("j") == "idsync.work.j"
    assert site_plan_subject("branch", "j") == "idsync.site.branch.plan.j"
    assert site_work("branch") == "idsync.site.branch.work.>"
    for subject in (work_subject("j", "branch"), site_plan_subject("branch", "j")):
        assert not subject.startswith(ALL_WORK[:-1])


def test_a_run_waiting_for_its_site_says_so_until_a_runner_of_the_site_starts_it() -> None:
    at = datetime(2026, 12, 6, tzinfo=UTC)
    run, job_id = "20261206T000000Z-abcdef", "hr-to-db"
    events: list[Event] = [
        RunApproved(run_id=run, job_id=job_id, approved_by="workflow", id="a", at=at),
        RunWaitingForSite(run_id=run, job_id=job_id, id="a.site", site="branch", at=at),
    ]
    (waiting,) = fold(events)
    assert waiting.state == "waiting: site branch"
    assert "waits for one of that site's runners" in waiting.reason
    started = RunStarted(run_id=run, job_id=job_id, id="s", runner="b1", attempt=1, at=at)
    (running,) = fold([*events, started])
    assert running.state == "running" and running.reason == ""
