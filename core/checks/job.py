"""`check_job`: what decoding a job cannot see — references, required scopes, limits,
what its providers need and can do. "Why was my job refused?" starts here.

Provider facts come in as data (`facts`: tag → ProviderFacts, the registry's); the
one check that must import something — can the job's hooks be loaded here? — is made by
the caller (services/common/hooks.py) and handed in as `hooks_problem`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from core.engine.mapping import check_mapping
from core.errors import BadInput
from core.sites import site_problem
from core.words import SLUG, show
from schemas.connections import Connection
from schemas.ids import is_slug
from schemas.jobs import Job, ObjectMapping

from .addresses import address_problem
from .destination import check_actions, check_mandatory, check_read_only
from .facts import ProviderFacts, Report, facts_of
from .incremental import check_changes
from .intervals import check_interval
from .objects import check_object_types, endpoint_of
from .schedules import check_schedules
from .scopes import check_scopes


def check_job(
    job: Job,
    connections: Mapping[str, Connection],
    facts: Mapping[str, ProviderFacts],
    *,
    origin: str | Path | None = None,
    hooks_problem: str | None = None,
) -> None:
    """Every problem of the job at once, as one BadInput.

    `origin` (the job's file) starts every line; without it the job's id does.
    `hooks_problem`: why the job's hooks cannot be loaded where it is applied (None:
    they can, or it has none)."""
    at = str(origin) if origin is not None else f'job "{job.id}"'
    problems: list[str] = []

    def bad(field: str, text: str) -> None:
        problems.append(f"{at}: {field}: {text}")

    if not is_slug(job.id):
        bad("$.id", f"expected {SLUG}, got {show(job.id)}")
    for side, ep in (("source", job.source), ("destination", job.destination)):
        conn = connections.get(ep.connection)
        if conn is None:
            known = ", ".join(sorted(connections)) or "none"
            text = f"unknown connection {show(ep.connection)} (known: {known})"
            bad(f"$.{side}.connection", text)
            continue
        for field, text in facts_of(conn, facts).check_endpoint(ep):
            bad(f"$.{side}.{field}", text)
    sites = {
        c.site for ep in (job.source, job.destination) if (c := connections.get(ep.connection))
    }
    if len(sites - {""}) > 1:
        bad("$.destination.connection", site_problem(job, connections))
    if not job.objects:
        bad("$.objects", "expected at least one [[objects]] entry, got none")
    sides = [connections.get(ep.connection) for ep in (job.source, job.destination)]
    source, target = (facts_of(c, facts) if c is not None else None for c in sides)
    check_object_types(bad, job, source, target)  # several types, their scopes, references
    for i, obj in enumerate(job.objects):
        _check_object(bad, f"$.objects[{i}]", obj)
        for path, text in check_mapping(obj, f"$.objects[{i}]", job.id):  # transformations
            bad(path, text)
    destination = connections.get(job.destination.connection)
    cans = None
    if destination is not None and target is not None:
        cans = [
            target.can_for(destination, endpoint_of(job.destination, obj.destination), obj)
            for obj in job.objects
        ]
        check_actions(bad, job, target.tag, cans, target.can(destination))
        check_mandatory(bad, job, destination.id, target)
        check_read_only(bad, job, destination.id, target)
    check_scopes(bad, job, cans)
    if not 1 <= job.batch_size <= 100_000:
        bad("$.batch_size", f"expected a whole number from 1 to 100000, got {job.batch_size}")
    _check_safety(bad, job)
    check_schedules(bad, job.schedule, job.schedules)
    if hooks_problem is not None:
        bad("$.hooks", hooks_problem)
    check_interval(bad, "$.timeout", job.timeout)
    check_interval(bad, "$.history.keep", job.history.keep if job.history else None)
    _check_notify(bad, job)
    check_changes(bad, job, connections, facts)
    if problems:
        raise BadInput("\n".join(problems))


def _check_safety(bad: Report, job: Job) -> None:
    """The safety limits are limits: a negative count, or a share below 0, above 100 or
    "nan", is a typo that would hold every plan (or none), refused rather than guessed."""
    safety = job.safety
    if safety.max_count < 0:
        bad("$.safety.max_count", f"expected a whole number from 0 up, got {safety.max_count}")
    if not 0 <= safety.max_percent <= 100:
        got = f"{safety.max_percent:g}"
        bad("$.safety.max_percent", f"expected a number from 0 to 100, got {got}")


def _check_notify(bad: Report, job: Job) -> None:
    """Each notification names someone to mail, and every address can be mailed."""
    for i, notification in enumerate(job.notify):
        at = f"$.notify[{i}].recipients"
        if notification.recipient_field is not None and notification.trigger != "password":
            bad(f"$.notify[{i}].recipient_field", 'goes with trigger = "password" only')
        if not notification.recipients and notification.recipient_field is None:
            bad(at, 'expected at least one address such as "ada@example.org", got []')
        for j, recipient in enumerate(notification.recipients):
            if (problem := address_problem(recipient)) is not None:
                bad(f"{at}[{j}]", f"{problem}, got {show(recipient)}")


def _check_object(bad: Report, at: str, obj: ObjectMapping) -> None:
    if not obj.keys:
        bad(f"{at}.keys", "expected at least one key field, got []")
    for j, key in enumerate(obj.keys):
        if not key.strip():
            bad(f"{at}.keys[{j}]", f"expected a field name, got {show(key)}")
    first: dict[str, int] = {}  # `to` field -> where it is first mapped
    for j, fmap in enumerate(obj.fields):
        here = f"{at}.fields[{j}]"
        if not fmap.to.strip():
            bad(f"{here}.to", f"expected a field name, got {show(fmap.to)}")
        elif fmap.to in first:
            again = f"got {show(fmap.to)} again (first at {at}.fields[{first[fmap.to]}])"
            bad(f"{here}.to", f'expected each "to" field once, {again}')
        else:
            first[fmap.to] = j
        if fmap.from_ is not None and not fmap.from_.strip():
            bad(f"{here}.from", f"expected a source field name, got {show(fmap.from_)}")
        if fmap.delimiter is not None and not fmap.delimiter:
            bad(f"{here}.delimiter", 'expected a separator such as "|", got ""')
        if fmap.delimiter is not None and fmap.if_several != "fail":
            text = "a field with a delimiter keeps every value: remove if_several or the delimiter"
            bad(f"{here}.if_several", text)
    if first:  # keys are destination fields, so with a map they must be mapped
        for j, key in enumerate(obj.keys):
            if key.strip() and key not in first:
                mapped = ", ".join(first)
                bad(
                    f"{at}.keys[{j}]",
                    f'expected one of the "to" fields ({mapped}), got {show(key)}',
                )
