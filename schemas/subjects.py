"""Subjects, built from tags by these functions only — never by hand.

Events:   idsync.<tag>.<job_id>           e.g. idsync.run.finished.hr-to-ldap,
                                          idsync.schedule.skipped.hr-to-ldap
Commands: idsync.cmd.<principal>.<verb>   request/reply, in no stream
Work:     idsync.work.<job_id>            change batches on the work queue
Logs:     idsync.log.<job_id>.<run_id>     a run's log lines, in batches
Sites:    idsync.site.<site>.plan.<job_id> approvals of a site's jobs, for its runners
          idsync.site.<site>.work.<job_id> change batches of a site's jobs
Previews: idsync.preview.<principal>      request/reply, a runner plans (the portal asks)
          idsync.preview.<principal>.<site> a site's job's, handed to that site's runners
"""

from __future__ import annotations

from .events import Event, _Event, tag_of

PREFIX = "idsync"
ALL_EVENTS = f"{PREFIX}.>"
RUN_EVENTS = f"{PREFIX}.run.>"
"""Every run event of every job."""
SCHEDULE_EVENTS = f"{PREFIX}.schedule.>"
"""What the scheduler says besides asking for runs: a fire skipped, fires missed."""
COLLECTION_EVENTS = f"{PREFIX}.collection.>"
"""Collection runs: asked for, each job's step started and ended, the end."""
ROLE_EVENTS = f"{PREFIX}.role.>"
"""Roles defined, removed, granted and revoked (role.changed)."""
JOB_EVENTS = f"{PREFIX}.job.>"
"""About jobs themselves: one deleted with its history (job.history-forgotten)."""
JOURNAL_SUBJECTS = [
    RUN_EVENTS,
    JOB_EVENTS,
    SCHEDULE_EVENTS,
    COLLECTION_EVENTS,
    ROLE_EVENTS,
]
ALL_WORK = f"{PREFIX}.work.>"
ALL_SITES = f"{PREFIX}.site.>"
"""Every site's queue: its runs to plan and its change batches (on the work queue)."""
WORK_SUBJECTS = [ALL_WORK, ALL_SITES]
COMMANDS = f"{PREFIX}.cmd.>"
ALL_LOGS = f"{PREFIX}.log.>"
LOG_SUBJECTS = [ALL_LOGS]
ALL_PREVIEWS = f"{PREFIX}.preview.*"
"""Previews asked of the runners (one of them answers): in no stream."""


def event_subject(event: Event) -> str:
    return f"{PREFIX}.{tag_of(event)}.{event.job_id}"


def events_of(kind: type[_Event], job_id: str = "*") -> str:
    """The subject (or filter) for one kind of event, for one job or all of them."""
    return f"{PREFIX}.{kind.__struct_config__.tag}.{job_id}"


def job_events(job_id: str) -> str:
    """Every event about one job: idsync.run.*.<job> (every tag is a run.* tag). Not
    idsync.*.*.<job>, which would also match commands of a verb spelled like the job:
    people may subscribe to the journal's families only."""
    return f"{PREFIX}.run.*.{job_id}"


def job_logs(job_id: str) -> str:
    """Every log line of one job's runs: idsync.log.<job>.*."""
    return f"{PREFIX}.log.{job_id}.*"


def schedule_events(job_id: str) -> str:
    """What the scheduler said about one job's schedules: idsync.schedule.*.<job>."""
    return f"{PREFIX}.schedule.*.{job_id}"


def collection_events(collection_id: str) -> str:
    return f"{PREFIX}.collection.*.{collection_id}"


def command_subject(principal: str, verb: str) -> str:
    """One command; "*" for either part makes a filter (every principal, every verb)."""
    return f"{PREFIX}.cmd.{principal}.{verb}"


def commands_of(principal: str) -> str:
    """Every command of one principal: what a person may publish."""
    return f"{PREFIX}.cmd.{principal}.>"


def work_subject(job_id: str, site: str = "") -> str:
    """A batch of the job's; in its site's queue when the job lives in a site."""
    if site:
        return f"{PREFIX}.site.{site}.work.{job_id}"
    return f"{PREFIX}.work.{job_id}"


def site_preview_subject(site: str, principal: str = "*") -> str:
    """A preview of a site's job, handed by a central runner to that site's runners
    (request/reply, in no stream; "*": every principal's)."""
    return f"{PREFIX}.preview.{principal}.{site}"


def site_plan_subject(site: str, job_id: str = "*") -> str:
    """An approved run of a site's job, for that site's runners to plan ("*": all)."""
    return f"{PREFIX}.site.{site}.plan.{job_id}"


def site_work(site: str) -> str:
    """Every change batch of a site's jobs (its runners' work consumer)."""
    return f"{PREFIX}.site.{site}.work.>"


def log_subject(job_id: str, run_id: str) -> str:
    return f"{PREFIX}.log.{job_id}.{run_id}"


def preview_subject(principal: str) -> str:
    """A preview asked in `principal`'s name (once the workflow allowed it)."""
    return f"{PREFIX}.preview.{principal}"
