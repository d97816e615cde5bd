"""Jobs: what moves where, matched by which keys, mapped how, and when."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

OnSourceOnly = Literal["create", "skip"]
OnBoth = Literal["update", "skip"]
OnDestinationOnly = Literal["delete", "disable", "move", "skip"]
Policy = Literal["force", "keep", "merge"]

TransformSpec = str | dict[str, Any] | list[str | dict[str, Any]]
"""A transformation as written in a job file: a name ("lower"), a table naming one
({ join = ["first", "last"], separator = " " }), or a list of them applied in order.
Checked and compiled when the job is applied (core/engine/transforms)."""


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class RowMark(_Strict, frozen=True):
    """How a destination sheet marks a disabled row: `field` set to `value`; enabling the
    row clears the field."""

    field: str = "disabled"
    value: str = "yes"


class Endpoint(_Strict, frozen=True):
    """One side of a job: a connection and the scope within it."""

    connection: str
    file: str | None = None
    """A file in the connection's folder (CSV, Excel)."""
    table: str | None = None
    """A table (SQL databases)."""
    delimiter: str | None = None
    """Overrides the connection's delimiter (CSV)."""
    quote_char: str | None = None
    encoding: str | None = None
    container: str | None = None
    """Directories: the base DN (or OU) of the scope."""
    include_subcontainers: bool = True
    """Directories: the whole subtree below `container` (true) or its children only."""
    query: str | None = None
    """A provider-native filter: an LDAP filter, a SQLite WHERE condition, or a PostgreSQL
    source's read-only SELECT (passed as is, never built from data)."""
    where: dict[str, Any] | None = None
    """Sources: only the records this condition holds for are in the job's scope, for every
    provider ({ field = "Status", equals = "Active" }; core/engine/conditions.py);
    the objects of the others count as absent from the source."""
    object_classes: list[str] | None = None
    """Directories: the object classes new entries are created with; also the read filter
    (every class) when `query` is not set. Default for users: inetOrgPerson."""
    rdn_attribute: str | None = None
    """Directories: the attribute naming new entries (uid → uid=jdoe,<container>); default:
    the first key field."""
    sheet: str | None = None
    """Excel: the worksheet of `file`; the first visible one when left out."""
    header_row: int | None = None
    """Excel: the row whose cells name the fields (1 when left out); rows above it (a title)
    are no records and are kept as they are."""
    mode: Literal["update", "replace"] | None = None
    """Excel destinations: update (the default) changes the sheet's rows in place, keeping
    its formatting; replace writes the sheet anew from its rows after the changes."""
    mark: RowMark | None = None
    """Excel destinations: how a disabled row is marked (it stays in the sheet)."""


class Resolve(_Strict, frozen=True):
    """A field whose values name other objects: each value is looked up by `by` among the
    objects of `type` this run leaves in the destination (those there and those it
    creates), and written as that object's identifier (an LDAP DN; elsewhere its key)."""

    type: str
    """The `type` of an [[objects]] entry of this job (the same one for a manager)."""
    by: str
    """The destination field of that type that the values are matched against."""
    placeholder: str | None = None
    """Written when no value resolves (groupOfNames needs a member), and while the
    objects it names are being created."""
    if_none: Literal["clear", "skip"] = "clear"
    """No value resolves and no placeholder: clear the field, or skip the object (neither
    created nor changed) and report it."""


class Unique(_Strict, frozen=True):
    """A made-up value (a login, an address) that must not repeat: a new object whose value
    is taken gets the first free variant. Checked against every destination object's value
    of the field and the new objects planned before it (in key order), case ignored."""

    pattern: str = "{value}{n}"
    """How a variant is written: {value} is the value, {n} the number (jsmith → jsmith2)."""
    start: int = 2
    """The first number tried."""
    before: str | None = None
    """The variant is made of the text before the last occurrence of this, the rest kept:
    with "@", ada@example.org → ada2@example.org."""


class FieldMap(_Strict, frozen=True):
    """One destination field and where its value comes from."""

    to: str
    from_: str | None = msgspec.field(default=None, name="from")
    """The source field; the same name as `to` when left out."""
    create_only: bool = False
    """Written when the object is created, never updated afterwards."""
    delimiter: str | None = None
    """Multi-valued: split the source text on it, join with it where one column holds the list."""
    if_several: Literal["fail", "first"] = "fail"
    """A field without a delimiter holds one value; when a record has several (two `cn` of
    a directory entry): fail that record, naming the values, or write the first one."""
    policy: Policy = "force"
    """force: the source wins; keep: only set when the destination is empty; merge: the
    union of the values (multi-valued fields)."""
    transform: TransformSpec | None = None
    resolve: Resolve | None = None
    """The values name other objects: written in the references phase (docs/references.md)."""
    unique: bool | Unique = False
    """A new object's value is made unique (jsmith, jsmith2, …): true, or the rule. Needs
    create_only = true: an object that exists keeps its value (docs/transformations.md)."""

    @property
    def source(self) -> str:
        return self.from_ or self.to


class ObjectScope(_Strict, frozen=True):
    """One object type's own scope on a side: replaces those fields of the job's endpoint."""

    file: str | None = None
    table: str | None = None
    container: str | None = None
    include_subcontainers: bool | None = None
    query: str | None = None
    where: dict[str, Any] | None = None
    object_classes: list[str] | None = None
    rdn_attribute: str | None = None


class Leavers(_Strict, frozen=True):
    """Source records that say their person has left (HR's `Status = "Terminated"`): their
    objects are disabled, moved or deleted as if absent from the source — with the same
    lifecycle (`delete_after`, `restore` when the record says they are back) — and, being
    seen, also in incremental runs and runs scoped to keys."""

    when: dict[str, Any]
    """The condition over source fields, such as { field = "Status", equals = "Terminated" }."""
    action: Literal["disable", "move", "delete"] = "disable"
    move_to: str | None = None
    """Where a leaver's object is moved (with action move, or disable-and-move); the
    mapping's `move_to` when left out."""
    new: Literal["skip", "create"] = "skip"
    """A leaver with no object yet: left out (skip), or created and given `action` at once."""


class ObjectMapping(_Strict, frozen=True):
    """How records of one object type are matched, acted on and mapped."""

    keys: list[str]
    """Destination fields whose values identify an object; at least one."""
    type: str = "user"
    case_insensitive: bool = False
    on_source_only: OnSourceOnly = "create"
    on_both: OnBoth = "update"
    on_destination_only: OnDestinationOnly = "skip"
    fields: list[FieldMap] = msgspec.field(default_factory=list)
    """Empty: every source field is copied under its own name."""
    container: str | None = None
    """Directories: where new objects are created (a fixed container)."""
    container_from: str | None = None
    """Directories: the source field holding the container of each object: where a new
    one is created, and (with on_both = "update") where one the destination holds
    elsewhere is moved (DNs compared ignoring case, spaces and escaping)."""
    move_to: str | None = None
    """With on_destination_only = "move": the container objects are moved to."""
    source: ObjectScope | None = None
    """This type's records in the source, when a job has several types (a file, a filter)."""
    destination: ObjectScope | None = None
    """This type's objects in the destination (a filter, object classes, a naming attribute)."""
    delete_after: str | None = None
    """With on_destination_only = "disable" or "move": delete an object still absent from
    the source this long ("30d") after a full run first found it absent."""
    restore: bool = False
    """An object disabled or moved for absence that is back in the source is enabled (and
    moved back to where a new object would be created)."""
    leavers: Leavers | None = None
    """Source records that mark their object as leaving, and what becomes of it."""


class Schedule(_Strict, frozen=True):
    """When a job runs on its own: exactly one of every, once, daily, weekly, monthly and
    cron; times of day are read in `zone` (core/schedules.py says when each fires)."""

    every: str | None = None
    """An interval such as "30s", "15m", "2h" or "1d": fire times are multiples of it
    since 1970-01-01 UTC (elapsed time: no zone, no daylight saving)."""
    once: str | None = None
    """One date and time, "2026-12-24T18:00", in `zone`."""
    daily: str | list[str] | None = None
    """Every day at these times: "06:00" or ["06:00", "18:30"]."""
    weekly: list[str] | None = None
    """On these days ("mon" … "sun") at the times of `at`."""
    monthly: int | str | None = None
    """On this day of the month (1 to 31; a month without it is passed over) or "last",
    at the times of `at`."""
    cron: str | None = None
    """A cron expression of five fields: minute hour day-of-month month day-of-week
    ("30 2 * * 1-5"; L for the last day of the month, 5#2 for its second Friday)."""
    at: str | list[str] = "00:00"
    """The times of day of weekly and monthly schedules."""
    zone: str = "UTC"
    """An IANA time zone ("Europe/Paris"): a time the clocks skip fires once, at the
    change; a time they repeat fires once, the first time."""
    name: str = ""
    """How `idsync schedule enable|disable JOB NAME` names it (a slug); left out, the
    kind of the schedule ("daily", "cron", …)."""
    enabled: bool = True
    """A disabled schedule does not fire; the job's other schedules do."""


class Changes(_Strict, frozen=True):
    """Incremental runs: read only the source records changed since the last run."""

    field: str | None = None
    """The source field holding a timestamp or a change counter (CSV, SQL); directories
    have their own (LDAP: modifyTimestamp, or entryCSN) when it is left out. Values
    compare as numbers when both are whole or decimal numbers, else as text, so
    timestamps must share one format and zone (ISO 8601, UTC)."""
    full_every: str | None = None
    """Scheduled runs read only the changes, and the whole source again once this long
    ("1d") has passed since the last full run; without it, scheduled runs are full."""


class Safety(_Strict, frozen=True):
    """Limits above which a run writes nothing and waits for approval of its plan."""

    max_count: int = 500
    """The most deletes, disables or moves (each) a run makes without approval."""
    max_percent: float = 10.0
    """The same, as a percentage of the destination's objects (the smaller limit applies)."""
    min_count: int = 3
    """Up to this many are always allowed (but never more than half of the destination's
    objects, nor more than max_count), so a small destination can lose one object."""
    empty_source: Literal["wait", "allow"] = "wait"
    """A source that comes back empty while the destination is not: wait for approval."""


RequestKind = Literal["manual", "schedule", "external"]


class Approval(_Strict, frozen=True):
    """Which run requests wait for someone's approval, and whose."""

    approvers: list[str]
    """Principals ("ada") or groups of principals ("group:directory-team"); any one of them
    may approve, never the one who asked."""
    required_for: list[RequestKind] = msgspec.field(default_factory=lambda: ["manual"])
    """manual: people's `idsync job run`; schedule: the job's schedule; external: requests
    from other systems (users added with `idsync user add --system`)."""
    expire_after: str = "1d"
    """An unanswered request ends `run.expired` after this long ("8h", "2d")."""


NotifyTrigger = Literal["always", "changed", "errors", "failed", "approval", "password"]


class Notification(_Strict, frozen=True):
    """Who is mailed about the job's runs, and when."""

    trigger: NotifyTrigger
    """always: every run's end; changed: records were written; errors: one or more
    records failed; failed: the run failed; approval: a plan waits for approval;
    password: the passwords generated for created records (no attachment)."""
    recipients: list[str] = msgspec.field(default_factory=list)
    """Addresses: "ada@example.org" or "Ada Lovelace <ada@example.org>"."""
    attach: Literal["csv", "xlsx"] | None = None
    """The run's change report (one row per changed field) attached in this format."""
    recipient_field: str | None = None
    """With trigger "password": also mail each created record's password to the address
    in this field of the record (e.g. "manager_mail": its manager), and no other."""


class HistoryKept(_Strict, frozen=True):
    """How long the recorder keeps a job's runs (services/recorder/retention.py)."""

    keep: str
    """A duration ("90d", "12h"): a run that ended longer ago is written to an archive
    (JSON lines under IDSYNC_HOME/history-archive/) and then removed from the history."""


class Job(_Strict, frozen=True):
    id: str
    """An immutable slug ([a-z0-9_-]); renaming a job changes its title."""
    source: Endpoint
    destination: Endpoint
    objects: list[ObjectMapping]
    title: str = ""
    description: str = ""
    owners: list[str] = msgspec.field(default_factory=list)
    """Principals who alone may change or delete the job; its connections then list
    owners too (core/checks/ownership.py)."""
    schedule: Schedule | None = None
    schedules: list[Schedule] = msgspec.field(default_factory=list)
    """More schedules: the job runs whenever any enabled one fires (never two runs at once:
    a fire while a run goes on is skipped and said so)."""
    enabled: bool = True
    pinned: bool = False
    """Listed first by `idsync job list` (`idsync job pin|unpin`)."""
    batch_size: int = 1000
    """Most changes in one applied batch (batches also stay under 512 KiB)."""
    safety: Safety = msgspec.field(default_factory=Safety)
    staging: bool = False
    """Every run plans and reports, and never writes."""
    hooks: str | None = None
    """Per-run hooks: "package.module:Hooks", an installed class (or object) whose methods
    startup, before_/after_<action>, failed and shutdown the runners call (see
    services/runner/hooks.py). Every runner must have the module installed."""
    timeout: str | None = None
    """A run still going this long after its approval ("2h", "30m") is cancelled: no new
    batch starts, and it ends `run.cancelled` with what it applied."""
    notify: list[Notification] = msgspec.field(default_factory=list)
    """Mail about runs: recipients and the trigger for each list (services/notifier)."""
    approval: Approval | None = None
    """Runs that wait for approval before they start (services/workflow); a job with one
    names its `owners`, who alone may change or delete it."""
    changes: Changes | None = None
    """How runs read only what changed (`idsync job run JOB --changed-only`, schedules)."""
    history: HistoryKept | None = None
    """How long the history keeps this job's runs (the recorder's default otherwise)."""

    @property
    def display_title(self) -> str:
        return self.title or self.id

    @property
    def all_schedules(self) -> list[Schedule]:
        """`schedule` and then `schedules`, in order."""
        return ([self.schedule] if self.schedule is not None else []) + self.schedules
