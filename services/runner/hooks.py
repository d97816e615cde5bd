"""Per-run hooks, as the reference product has them: an installed class the job names
(`hooks = "acme_idsync.hooks:Audit"`), whose optional methods the runners call:

    startup(context)                       the run starts planning (on the planning runner)
    before_create(change, context)         before a change is applied — raising refuses it:
    before_update / before_delete / …        the change fails with that reason
    after_create(change, context) / …      after it was applied (a raise is only logged)
    failed(change, error, context)         a change failed
    shutdown(stats, context)               the run finished (on the runner that ends it)

One instance and one `context` per run in each runner process (`context.data` is a dict
the hooks may keep things in; runs are spread over runners, so it is not shared).
Generated passwords are not in `change.set` when hooks see it. A hook gets a copy of each
change: what it does to it changes nothing written (the plan approved is what is applied,
however a batch travels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

import msgspec
import structlog

from core.engine.scripts import load
from core.errors import BadInput
from schemas.jobs import Job
from schemas.plan import Change, RunStats

log = structlog.get_logger("idsync.runner")
KEPT_RUNS = 16
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Change).decode


def for_reading(change: Change) -> Change:
    """A copy of the change for a hook: a value it changes there is not written."""
    return _decode(_encode(change))


@dataclass
class HookContext:
    job_id: str
    run_id: str
    runner_id: str
    data: dict[str, Any] = field(default_factory=dict)


class Hooks:
    def __init__(self, target: Any, context: HookContext) -> None:
        self.target = target
        self.context = context

    def call(self, name: str, *args: object) -> None:
        """Call a hook if the class has it; its exceptions are the caller's to handle."""
        method = getattr(self.target, name, None)
        if method is not None:
            method(*args, self.context)

    def quietly(self, name: str, *args: object) -> None:
        """Call a hook whose failure changes nothing but a log line."""
        try:
            self.call(name, *args)
        except Exception as error:
            log.warning("hook failed", hook=name, error=str(error))

    def before(self, changes: list[Change]) -> dict[int, str]:
        """Call before_<action> for each change; the positions refused, and why."""
        refused: dict[int, str] = {}
        for position, change in enumerate(changes):
            try:
                self.call(f"before_{change.action}", for_reading(change))
            except Exception as error:
                refused[position] = f"hook before_{change.action} refused it: {error}"
        return refused

    def after(self, changes: list[Change], errors: list[str | None]) -> None:
        for change, error in zip(changes, errors, strict=True):
            if error is None:
                self.quietly(f"after_{change.action}", for_reading(change))
            else:
                self.quietly("failed", for_reading(change), error)


_runs: dict[str, Hooks] = {}


def hooks_of(job: Job, run_id: str, runner_id: str) -> Hooks | None:
    """The run's hooks in this process (made on first use), or None when the job has none."""
    if job.hooks is None:
        return None
    if run_id not in _runs:
        while len(_runs) >= KEPT_RUNS:
            _runs.pop(next(iter(_runs)))
        found = load(job.hooks, "the runner", _refuse)
        target = found() if isinstance(found, type) else found
        _runs[run_id] = Hooks(target, HookContext(job.id, run_id, runner_id))
    return _runs[run_id]


def shutdown(job: Job, run_id: str, runner_id: str, stats: RunStats) -> None:
    hooks = hooks_of(job, run_id, runner_id)
    if hooks is not None:
        hooks.quietly("shutdown", stats)
        _runs.pop(run_id, None)


def _refuse(problem: str) -> NoReturn:
    raise BadInput(f"$.hooks: {problem}")
