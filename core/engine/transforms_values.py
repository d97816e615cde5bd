"""Transformations that make values: constants, joins, defaults, dates, lookup tables.

`static`, `join` and `default` may read any field of the source record, not only the
field map's own `from` field.
"""

from __future__ import annotations

import re
from datetime import datetime

from core.words import show
from schemas.values import Record, Value

from .context import MappingContext
from .transforms_base import Args, RecordFailed, Step, each, nfc, texts_of

# %%, or a variable: an upper-case name, optionally ":NAME" (%ENV:HOME%). Anything else
# (a lone "%" as in "50% off") is plain text.
_VARIABLE = re.compile(r"%%|%([A-Z][A-Z_]*)(?::([A-Za-z_][A-Za-z0-9_]*))?%")
_VARIABLES = "%NOW%, %TODAY%, %JOB_ID%, %RUN_ID%, %ENV:NAME% and %% for a percent sign"


def static(args: Args, context: MappingContext) -> Step:
    """`{ static = "Created by %JOB_ID% on %TODAY%" }`: the same text for every record of
    a run, its variables filled in once from the run's context."""
    template = args.text(label="the text to write")

    def fill(match: re.Match[str]) -> str:
        name, argument = match[1], match[2]
        if name is None:
            return "%"
        if name == "ENV" and argument:
            if context.environment is None:  # only checking: the runner's is unknown
                return ""
            if argument not in context.environment:
                args.fail(f"reads %ENV:{argument}%, which is not set where the job runs")
            return context.environment[argument]
        values = {
            "NOW": context.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "TODAY": context.now.strftime("%Y-%m-%d"),
            "JOB_ID": context.job_id,
            "RUN_ID": context.run_id,
        }
        if name not in values or argument is not None:
            args.fail(f"has an unknown variable {match[0]} (known: {_VARIABLES})")
        return values[name]

    text = _VARIABLE.sub(fill, template) or None
    return lambda value, record: text


def join(args: Args, context: MappingContext) -> Step:
    """`{ join = ["first_name", "last_name"], separator = " " }`: the source fields' values
    joined (a field with no value is left out, so no doubled separators)."""
    fields = args.texts(label="the source fields to join")
    separator = args.text("separator", default=" ")

    def joined(value: Value | None, record: Record) -> Value | None:
        parts = [text for field in fields for text in texts_of(record.get(field))]
        return separator.join(parts) or None

    return joined


def default(args: Args, context: MappingContext) -> Step:
    """The value when there is one, else the first of `default`'s source fields that has
    one, else `value`. `{ default = "n/a" }` alone is a constant."""
    if isinstance(args.main, str):
        fields, constant = [], args.main
        if args.has("value"):
            args.fail('takes either a text or a list of fields with "value", not both')
    else:
        fields = args.texts(label="the text or the source fields to fall back on")
        constant = args.text("value", default="")
    fallback = constant or None

    def coalesce(value: Value | None, record: Record) -> Value | None:
        if texts_of(value) or (value is not None and not isinstance(value, str | list)):
            return value
        for field in fields:
            found = record.get(field)
            if texts_of(found):
                return list(found) if isinstance(found, list) else found
        return fallback

    return coalesce


def date(args: Args, context: MappingContext) -> Step:
    """`{ date = "%d.%m.%Y", to = "%Y-%m-%d" }`: dates read with one of the `date` formats
    (tried in order) and written with `to` (Python strftime codes). A value no format
    reads is that record's error."""
    formats = args.texts(label="the format(s) of the dates read")
    if not args.has("to"):
        args.fail('needs "to", the format to write, such as { date = "%d.%m.%Y", to = "%Y-%m-%d" }')
    out = args.text("to")
    sample = datetime(2001, 2, 3, 4, 5, 6)
    for fmt in formats:
        try:  # a bad directive ("%Q") only shows when parsing
            datetime.strptime(sample.strftime(fmt), fmt)
        except ValueError as error:
            args.fail(f"cannot read dates with {show(fmt)}: {error}")
    try:
        sample.strftime(out)
    except ValueError as error:
        args.fail(f"cannot write dates with {show(out)}: {error}")
    strptime = datetime.strptime

    def reformat(text: str) -> str:
        text = text.strip()
        for fmt in formats:
            try:
                return strptime(text, fmt).strftime(out)
            except ValueError:
                continue
        raise RecordFailed(f"date {show(text)} does not match {' or '.join(map(show, formats))}")

    return each("date", reformat)


def value_map(args: Args, context: MappingContext) -> Step:
    """`{ map = { S = "Sales", F = "Finance" } }`: each value looked up. A value that is not
    in the table takes `default`, stays as it is with `keep_unmapped = true`, and is that
    record's error otherwise (so a new code is noticed, not silently dropped)."""
    table = args.main
    if not isinstance(table, dict) or not table:
        args.fail(f'needs a table of values, such as {{ S = "Sales" }}, got {show(table)}')
    ignore_case = args.flag("ignore_case", False)
    keep = args.flag("keep_unmapped", False)
    fallback = args.text("default") if args.has("default") else None
    if keep and fallback is not None:
        args.fail('takes "default" or "keep_unmapped = true", not both')
    lookup: dict[str, str] = {}
    for key, value in table.items():
        if not isinstance(value, str):
            args.fail(f"needs text for {show(key)}, got {show(value)}")
        folded = nfc(key).casefold() if ignore_case else nfc(key)
        if lookup.get(folded, value) != value:
            args.fail(f"maps {show(key)} twice when case is ignored")
        lookup[folded] = value

    def find(text: str) -> str:
        found = lookup.get(nfc(text).casefold() if ignore_case else nfc(text))
        if found is not None:
            return found
        if fallback is not None:
            return fallback
        if keep:
            return text
        raise RecordFailed(
            f"map has no entry for {show(text)} (add it, or a default, or keep_unmapped = true)"
        )

    return each("map", find)
