"""Job collections: jobs run one after the other, as one."""

from __future__ import annotations

from typing import Literal

import msgspec

from .jobs import Notification, Schedule

OnFailure = Literal["abort", "continue"]


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class CollectionStep(_Strict, frozen=True):
    job: str
    """The id of a job."""
    on_failure: OnFailure = "abort"
    """When its run fails (or is cancelled, denied or expires): abort the collection (the
    jobs after it do not run), or continue with the next job."""


class Collection(_Strict, frozen=True):
    id: str
    """A slug that never changes; `title` is for people."""
    jobs: list[CollectionStep]
    """In order: each job runs once the one before it has ended, never two at once."""
    title: str = ""
    description: str = ""
    owners: list[str] = msgspec.field(default_factory=list)
    """Principals who alone may change, run or delete the collection."""
    schedule: Schedule | None = None
    schedules: list[Schedule] = msgspec.field(default_factory=list)
    """When the collection runs on its own (the scheduler): as a job's schedules."""
    enabled: bool = True
    pinned: bool = False
    """Listed first by `idsync collection list` (`idsync collection pin|unpin`)."""
    notify: list[Notification] = msgspec.field(default_factory=list)
    """One summary mail per collection run (triggers always, changed, errors, failed)."""

    @property
    def display_title(self) -> str:
        return self.title or self.id

    @property
    def all_schedules(self) -> list[Schedule]:
        return ([self.schedule] if self.schedule is not None else []) + self.schedules
