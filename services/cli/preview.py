"""A plan as `idsync job preview` (and the demo) prints it: one line per change.

Values read as values (a list is its items joined with "; ", as in the change report);
a create, delete, disable or move line names the object by its main fields; an update
shows each field's old and new value, the values added to and removed from a
multi-valued field (group members: "member added: …") and the fields cleared
(references too, as docs/references.md says).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from core.engine.report import LIST_SEPARATOR, text
from core.run_texts import grouped_warnings
from schemas.jobs import Job
from schemas.plan import Change, PlanCounts
from schemas.values import Record, Value
from services.common.store import Store
from services.runner.planning import PlannedRun, open_sides
from services.runner.planning.sides import READ_BATCH

from .output import one_line, shown_value

MAIN_FIELDS = 3
"""Fields besides the key that name an object on its line (the rest: --json, --export)."""
VALUES_SHOWN = 5
"""Values added or removed shown per field (a group's thousand new members: five, and a count)."""
NONE = "∅"
ABSENT_ACTIONS = frozenset({"delete", "disable", "move"})
"""Changes whose object's fields are not in the plan: read from the destination."""


def counts_line(counts: PlanCounts, plan_hash: str) -> str:
    return (
        f"{counts.create} to create, {counts.update} to update, {counts.delete} to delete, "
        f"{counts.disable} to disable, {counts.move} to move, {counts.enable} to enable, "
        f"{counts.unchanged} unchanged, {counts.skipped} skipped — plan {plan_hash[:12]}"
    )


def change_line(change: Change, order: Sequence[str] = (), found: Record | None = None) -> str:
    """One change as people read it. `order`: the job's fields, for the main ones first;
    `found`: the destination's record of an object deleted, disabled or moved."""
    if change.action == "create":
        detail = _main(change.set, order, change.match)
    elif change.action in ABSENT_ACTIONS:
        detail = _main(found or {}, order, change.match)
    else:
        detail = _edits(change)
    if change.container and change.action in ("create", "move"):
        detail += f" → {change.container}" if detail else f"→ {change.container}"
    return f"{change.action:<7} {shown_value(change.key)}  {detail}".rstrip()


def _main(record: Record, order: Sequence[str], match: Record) -> str:
    """The record's first MAIN_FIELDS fields besides its key, in the job's order."""
    names = [*dict.fromkeys([*order, *sorted(record)])]
    shown = [n for n in names if n in record and n not in match and not n.startswith("@")]
    parts = [f"{name}={_shown(record[name])}" for name in shown[:MAIN_FIELDS]]
    if len(shown) > MAIN_FIELDS:
        parts.append(f"… (+{len(shown) - MAIN_FIELDS} fields)")
    return ", ".join(parts)


def _edits(change: Change) -> str:
    """What an update does to each field: set, cleared, values added and removed."""
    before = change.before
    parts = [
        f"{name}: {_old(before.get(name))} → {_shown(value)}{_form(before.get(name), value)}"
        for name, value in change.set.items()
    ]
    parts += [f"{name}: {_old(before.get(name))} → {NONE}" for name in change.clear]
    parts += [f"{name} added: {_listed(values)}" for name, values in change.add.items()]
    parts += [f"{name} removed: {_listed(values)}" for name, values in change.remove.items()]
    return ", ".join(parts)


def _form(old: Value | None, new: Value) -> str:
    """A note for a text that changes its Unicode form alone ("é" as one character, or
    as "e" and an accent): it reads the same, and the update would look like none."""
    if not isinstance(old, str) or not isinstance(new, str) or old == new:
        return ""
    if unicodedata.normalize("NFC", old) != unicodedata.normalize("NFC", new):
        return ""
    form = next((f for f in ("NFC", "NFD") if unicodedata.is_normalized(f, new)), "mixed")
    return f" (the same text in another Unicode form: {form})"


def _old(value: Value | None) -> str:
    return _shown(value) if value is not None else NONE


def _listed(values: list[str]) -> str:
    more = len(values) - VALUES_SHOWN
    return _shown(values[:VALUES_SHOWN]) + (f" … (+{more})" if more > 0 else "")


def _shown(value: Value) -> str:
    """A value as a plan's line shows it: each text as `shown_value` shows it (spaces at
    its ends seen), a list's items joined as in the change report."""
    if isinstance(value, list):
        return LIST_SEPARATOR.join(map(shown_value, value))
    return shown_value(text(value))


def field_order(job: Job) -> dict[str, list[str]]:
    """Per object type, the fields its job writes, in the job's order."""
    return {mapping.type: [f.to for f in mapping.fields] for mapping in job.objects}


async def absent_objects(
    store: Store, job: Job, changes: Sequence[Change]
) -> dict[tuple[str, str], Record]:
    """The destination's records of the objects these changes delete, disable or move,
    by (object type, key): the plan names them by their key alone. Read only when such
    a change is shown."""
    wanted = {
        (change.object_type, _identity(change.match.values()))
        for change in changes
        if change.action in ABSENT_ACTIONS
    }
    if not wanted:
        return {}
    found: dict[tuple[str, str], Record] = {}
    async with open_sides(store, job) as sides:
        destinations = [sides.destination, *(target for _, target in sides.others)]
        for mapping, destination in zip(job.objects, destinations, strict=True):
            async for batch in destination.read(READ_BATCH):
                for record in batch:
                    found_as = (mapping.type, _identity(record.get(k) for k in mapping.keys))
                    if found_as in wanted:
                        found[found_as] = record
    return found


def _identity(values: Iterable[Value | None]) -> str:
    return "\x00".join(text(value) for value in values)


def change_lines(
    job: Job, changes: Sequence[Change], found: dict[tuple[str, str], Record]
) -> list[str]:
    """The changes, one line each (`found`: from `absent_objects`)."""
    order = field_order(job)
    return [
        change_line(
            change,
            order.get(change.object_type, ()),
            found.get((change.object_type, _identity(change.match.values()))),
        )
        for change in changes
    ]


async def preview_text(
    store: Store, job: Job, planned: PlannedRun, limit: int, keys: list[str] | None = None
) -> str:
    """What `idsync job preview` prints: the counts, whether a run of the plan would wait
    for approval, the first `limit` changes, the warnings (each kind once) and the
    records that failed (`keys`: the preview is scoped to them, as a run would be)."""
    plan = planned.plan
    shown = plan.changes[:limit]
    over = None if job.staging else planned.over_limits(job, keys)
    failed = [error for error in planned.record_errors if not error.skipped]
    counts = counts_line(plan.counts, plan.hash)
    if failed:
        # Not planned, so in no count of the plan: said beside them, as a run counts them.
        counts = counts.replace(" — plan ", f", {len(failed)} failed — plan ", 1)
    lines = [
        f"{job.id}: {planned.source_records} source records, "
        f"{planned.destination_records} in the destination",
        counts,
        *change_lines(job, shown, await absent_objects(store, job, shown)),
    ]
    if over is not None:
        lines.insert(2, f"over the safety limits, a run of this plan waits for approval: {over}")
    if (hidden := len(plan.changes) - limit) > 0:
        lines.append(f"… and {hidden} more (--limit N shows more, --json shows all)")
    lines += [f"warning: {warning}" for warning in grouped_warnings(plan.warnings)]
    # Records whose mapping or references failed: not planned, their objects held.
    # A record left alone on purpose (counted as skipped) is said as such, not as failed.
    lines += [
        f"{'skipped' if error.skipped else 'failed'}  {shown_value(error.key)}: {error.message}"
        for error in planned.record_errors[:limit]
    ]
    if (unshown := len(planned.record_errors) - limit) > 0:
        lines.append(f"… and {unshown} more records failed or skipped (--json lists them all)")
    head, *rest = map(one_line, lines)
    return "".join(f"{line}\n" for line in [head, *(f"  {line}" for line in rest)])
