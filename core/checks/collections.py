"""Is a collection valid? Its id, its jobs (each one known), its schedules and mail."""

from __future__ import annotations

from collections.abc import Collection as Known

from core.errors import BadInput
from core.words import SLUG, show
from schemas.collections import Collection
from schemas.ids import is_slug

from .addresses import address_problem
from .schedules import check_schedules


def check_collection(collection: Collection, jobs: Known[str], origin: str = "") -> None:
    """BadInput listing every problem, one line each (`origin: $.path: …`)."""
    at = origin or f'collection "{collection.id}"'
    problems: list[str] = []

    def bad(field: str, text: str) -> None:
        problems.append(f"{at}: {field}: {text}")

    if not is_slug(collection.id):
        bad("$.id", f"expected {SLUG}, got {show(collection.id)}")
    if not collection.jobs:
        bad("$.jobs", 'expected at least one [[jobs]] entry (job = "…"), got none')
    for i, step in enumerate(collection.jobs):
        if step.job not in jobs:
            bad(f"$.jobs[{i}].job", f"expected a job that exists, got {show(step.job)}")
    check_schedules(bad, collection.schedule, collection.schedules)
    for i, note in enumerate(collection.notify):
        if note.trigger not in ("always", "errors", "failed"):
            text = f"a collection mails always, errors or failed, not {note.trigger}"
            bad(f"$.notify[{i}].trigger", text)
        for j, recipient in enumerate(note.recipients):
            if (problem := address_problem(recipient)) is not None:
                bad(f"$.notify[{i}].recipients[{j}]", f"{problem}, got {show(recipient)}")
    if problems:
        raise BadInput("\n".join(problems))
