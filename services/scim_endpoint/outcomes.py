"""What became of each record of a run: read from the journal (the run's story, as `idsync
run show` tells it) and, once it has ended, from its stored plan (which change each key
got). A record is `pending` until its run ends; then `created`, `updated`, `disabled`,
`enabled`, `unchanged`… (`applied` when the plan is gone), `skipped` with the reason
the plan left it alone (a reference that resolves to nothing, `if_none = "skip"`), or
`failed` with the reason;
a run that ended without applying (denied, expired, failed while planning, or a run of a
job in staging, which plans and never writes) leaves its records `not applied`, saying
why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from core.engine.keys import KEY_SEPARATOR
from core.runs import RunStory, fold
from schemas.events import Event, RunApproved, RunRequested
from schemas.plan import APPLIED_STAT
from services.common.bus import Bus
from services.common.logging import get_logger
from services.common.reading import run_events
from services.common.stored_plans import changes_of, load_plan

ENDED = ("finished", "finished with errors", "failed", "cancelled", "denied", "expired")
DID = dict(APPLIED_STAT)
log = get_logger("idsync.scim_endpoint")


@dataclass
class Outcomes:
    story: RunStory
    keys: list[str]
    """The keys the run was scoped to: the records pushed."""
    records: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Key → (status, detail)."""

    @property
    def ended(self) -> bool:
        return self.story.state in ENDED

    def of(self, key: str) -> tuple[str, str]:
        return self.records.get(key, ("pending", self.story.state))


async def outcomes(
    bus: Bus, job_id: str, run_id: str, pushed: Sequence[str] = ()
) -> Outcomes | None:
    """The run's records, or None when the journal has no such run (yet). `pushed`: the
    keys this endpoint pushed into the run — told about too where the run, merged with a
    request for the whole job, names no keys."""
    events: list[Event] = await run_events(bus.broker.connection, job_id, run_id)
    stories = [s for s in fold(events) if s.run_id == run_id]
    if not stories:
        return None
    story = stories[0]
    keys = next(
        (e.keys or [] for e in events if isinstance(e, RunApproved | RunRequested) and e.keys),
        [],
    )
    found = Outcomes(story, list(dict.fromkeys([*keys, *pushed])))
    if not found.ended:
        return found
    failed = {_first(e.key): e.message for e in story.errors if not e.skipped}
    skipped = {_first(e.key): e.message for e in story.errors if e.skipped}
    actions: dict[str, str] | None = {}
    if story.state.startswith("finished") and story.plan_hash:
        try:
            plan = await load_plan(bus, run_id)
        except Exception as e:  # the plan is gone (kept as long as the journal)
            log.warning("no stored plan to tell outcomes by", run_id=run_id, error=str(e))
            plan, actions = None, None
        if plan is not None and actions is not None:
            async for change in changes_of(bus, plan):
                if not change.follow_up:
                    actions.setdefault(_first(change.key), change.action)
    for key in found.keys:
        folded = _first(key)
        if folded in failed:
            found.records[key] = ("failed", failed[folded])
        elif not story.state.startswith("finished"):
            found.records[key] = ("not applied", f"the run {story.state}: {story.reason}")
        elif story.staged:  # planned, never written: what would have been done is told
            planned = "unchanged"
            if actions is not None and folded in actions:
                planned = DID.get(actions[folded], actions[folded])
            found.records[key] = (
                "not applied",
                f"the job is in staging: its run plans and never writes (planned: {planned})",
            )
        elif folded in skipped and (actions is None or folded not in actions):
            found.records[key] = ("skipped", skipped[folded])
        elif actions is None:
            found.records[key] = ("applied", "")
        elif folded in actions:
            found.records[key] = (DID.get(actions[folded], actions[folded]), "")
        else:
            found.records[key] = ("unchanged", "")
    return found


def _first(key: str) -> str:
    """A key as runs are scoped by it: its first field's value, case folded."""
    return key.split(KEY_SEPARATOR)[0].strip().casefold()
