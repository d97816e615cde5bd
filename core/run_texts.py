"""A run's statistics, duration and plan warnings as people read them: one wording for
the command line, the mails and the logs."""

from __future__ import annotations

import re
from collections.abc import Iterable

from schemas.plan import PlanCounts, RecordError, RunStats

STAT_NAMES = (
    "read",
    "created",
    "updated",
    "deleted",
    "disabled",
    "moved",
    "enabled",
    "unchanged",
    "skipped",
    "failed",
)
"""The statistics shown, in this order (`enabled`: objects restored)."""


COUNT_NAMES = ("create", "update", "delete", "disable", "move", "enable", "unchanged", "skipped")
"""A plan's counts shown, in this order (`enable`: objects restored)."""


def counts_line(counts: PlanCounts) -> str:
    """ "1 create, 2 update, 0 delete, …" — every count of a plan, none left out."""
    return ", ".join(f"{getattr(counts, name)} {name}" for name in COUNT_NAMES)


def error_line(error: RecordError) -> str:
    """ "error: update ann: …" — one record error, as `idsync run show` lists them."""
    return f"error: {error.action} {error.key}: {error.message}"


def stats_line(stats: RunStats) -> str:
    """ "300 read, 1 created, 1 updated, …" — every statistic, none left out."""
    return ", ".join(f"{getattr(stats, name)} {name}" for name in STAT_NAMES)


def duration(seconds: float) -> str:
    """ "42 ms", "3.2 s", "2 min 05 s", "1 h 02 min": a fast run is not "0.0 s"."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {rest:02d} s"


_RECORD_SHOWN = re.compile(r"^(?P<what>.+?): \{")
"""A warning about one record ends with the record: "source record skipped, empty key
(employee_id): {…}"."""


_MORE_LIKE = re.compile(
    r"^(?P<type>(?:[^\s:]+: )?)\.\.\. and (?P<count>\d+) more like: (?P<what>.+)$", re.DOTALL
)
"""What a plan says of the warnings about single records past the ones it keeps, per
kind (`more_like`); in a job of several types, after the type ("group: ...")."""


def warning_kind(warning: str) -> str | None:
    """What a warning about one record says before the record ("source record skipped,
    empty key (employee_id)"); None for another warning."""
    match = _RECORD_SHOWN.match(warning)
    return match["what"] if match else None


def more_like(count: int, kind: str) -> str:
    """How many more warnings of a kind (`warning_kind`) a plan had than it keeps: told
    with the first of them by `grouped_warnings`."""
    return f"... and {count} more like: {kind}"


KEYS_SHOWN = 5
"""Keys of a run scoped to keys that its story names."""


def keys_line(keys: list[str]) -> str:
    """ "scoped to 3 keys (E1, E2, E3): …" — a run asked for some keys alone, which acts on
    no object absent from the source (a whole run would delete, disable or move it)."""
    shown = ", ".join(keys[:KEYS_SHOWN]) + (", …" if len(keys) > KEYS_SHOWN else "")
    count = f"{len(keys)} key{'s' * (len(keys) != 1)}"
    return f"scoped to {count} ({shown}): absent objects left alone"


def filtered_key_warning(key: str, held: bool) -> str:
    """What a run scoped to keys says of a key whose source record the source's `where`
    leaves out; `held`: a destination object has the key (left alone by such a run)."""
    return f"the source's record of the key {key!r} is out of the job's scope (its " + (
        "`where`): a run for some keys leaves its object alone (a whole run acts on it as "
        "missing from the source)"
        if held
        else "`where`), and no destination object has it: nothing is done for it"
    )


UNKNOWN_KEYS_SHOWN = 5
"""Keys a run was asked for that no side holds, named in its warning beyond the first."""


def unknown_keys_warning(keys: list[str]) -> str:
    """What a run scoped to keys says of those no source record and no destination object
    holds: one warning for them all, the first few named (a list of 40,000 keys that a
    system sent was 40,000 warnings, and as many lines logged)."""
    first, others = keys[0], keys[1:]
    if not others:
        return (
            f"no source record and no destination object has the key {first!r}: nothing "
            "is done for it"
        )
    shown = ", ".join(repr(key) for key in others[:UNKNOWN_KEYS_SHOWN])
    more = ", …" if len(others) > UNKNOWN_KEYS_SHOWN else ""
    return (
        f"no source record and no destination object has the key {first!r}, nor "
        f"{len(others)} other key(s) asked for ({shown}{more}): nothing is done for them"
    )


def grouped_warnings(warnings: Iterable[str]) -> list[str]:
    """The plan's warnings, those about single records told once per kind: the first in
    full and how many more are like it (a renamed field makes every record one), those
    the plan did not keep (`more_like`) counted in."""
    kinds: dict[str, list[str]] = {}
    beyond: dict[str, int] = {}
    for warning in warnings:
        past = _MORE_LIKE.match(warning)
        if past is not None and (kind := past["type"] + past["what"]) in kinds:
            beyond[kind] = beyond.get(kind, 0) + int(past["count"])
            continue
        kinds.setdefault(warning_kind(warning) or warning, []).append(warning)
    lines = []
    for kind, same in kinds.items():
        count = len(same) - 1 + beyond.get(kind, 0)
        more = f" (and {count} more like it)" if count > 0 else ""
        lines.append(same[0] + more)
    return lines


WARNINGS_KEPT = 20
"""A run's plan warnings its `run.planned` event keeps (grouped): the first ones, and how
many in all."""
WARNING_LENGTH = 1000
"""Characters of one warning a run keeps: a record shown in a warning may be long."""


def kept_warnings(warnings: Iterable[str]) -> tuple[list[str], int]:
    """The plan's warnings a run keeps with its story: the first `WARNINGS_KEPT` of them
    grouped as `job preview` says them, each cut to `WARNING_LENGTH` characters, and how
    many grouped warnings there are in all."""
    grouped = grouped_warnings(warnings)
    kept = [_cut(warning) for warning in grouped[:WARNINGS_KEPT]]
    return kept, len(grouped)


def warning_lines(warnings: list[str], total: int) -> list[str]:
    """A run's plan warnings as the command line and the mails say them, one a line: the
    ones kept, then how many more the plan had (`idsync job preview` shows a plan's all)."""
    more = total - len(warnings)
    return [*warnings, *([f"... and {more} more warnings"] if more > 0 else [])]


def _cut(warning: str) -> str:
    if len(warning) <= WARNING_LENGTH:
        return warning
    return warning[: WARNING_LENGTH - 1] + "…"
