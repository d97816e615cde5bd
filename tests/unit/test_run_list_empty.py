"""`idsync run list --job JOB` with no run says it of that job, with the job's name in the
command to start one."""

from __future__ import annotations

from services.cli.run import no_runs


def test_no_run_of_a_job_names_the_job() -> None:
    assert no_runs("hr-to-dir2") == (
        "no runs of job hr-to-dir2 in the journal: `idsync job run hr-to-dir2` starts one "
        "(a job deleted with --forget-history keeps none)"
    )


def test_no_run_at_all() -> None:
    assert no_runs(None) == "no runs yet: `idsync job run JOB` starts one"
