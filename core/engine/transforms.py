"""Transformations: a field map's `transform`, checked and compiled once per run.

A transformation is written as a name ("lower"), a table naming one and its options
({ join = ["first_name", "last_name"], separator = " " }), or a list of them applied
in order. `compile_transform` turns it into one `Step`; a bad argument raises
`TransformError` (a BadInput) naming its path in the job, a record a step cannot
transform raises `RecordFailed`. docs/transformations.md shows each one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

from core.words import show
from schemas.jobs import TransformSpec
from schemas.values import Record, Value

from . import transforms_text as text
from . import transforms_values as values
from .conditions import compile_condition
from .context import MappingContext
from .passwords import OPTIONS as PASSWORD_OPTIONS
from .passwords import PasswordSpec, password_spec
from .scripts import script
from .transforms_base import Args, RecordFailed, Step, TransformError
from .transforms_format import format_text

__all__ = [
    "RecordFailed",
    "Step",
    "TransformError",
    "compile_transform",
    "generated_password",
    "is_password",
]

Builder = Callable[[Args, MappingContext], Step]


def _password(args: Args, context: MappingContext) -> Step:
    password_spec(args)  # checked like any other; the mapping leaves the field out
    return _no_step


def _no_step(value: Value | None, record: Record) -> Value | None:
    return None  # a password is never mapped: the runner makes it at apply time


def compile_transform(spec: TransformSpec, path: str, context: MappingContext) -> Step:
    """One step doing everything `spec` says, its arguments checked. `path` is where the
    spec is in the job ("$.objects[0].fields[2].transform"), for error messages."""
    if isinstance(spec, list):
        if not spec:
            raise TransformError(path, "expected a transformation or a list of them, got []")
        steps = [_one(item, f"{path}[{i}]", context) for i, item in enumerate(spec)]
        if len(steps) == 1:
            return steps[0]
        if any(is_password(item) for item in spec):
            raise TransformError(path, "a password is generated alone, not with other steps")

        def chain(value: Value | None, record: Record) -> Value | None:
            for step in steps:
                value = step(value, record)
            return value

        return chain
    return _one(spec, path, context)


def _one(spec: object, path: str, context: MappingContext) -> Step:
    name, table = _kind(spec, path)
    builder, options, _ = KINDS[name]
    args = Args(name, table, path)
    if table is not None:
        args.only(options)
    return builder(args, context)


def _kind(spec: object, path: str) -> tuple[str, Mapping[str, Any] | None]:
    """The transformation a spec names, and its table (None for a bare name)."""
    if isinstance(spec, str):
        if spec not in KINDS:
            close = difflib.get_close_matches(spec, KINDS, n=1)
            hint = f'did you mean "{close[0]}"?' if close else f"known: {_NAMES}"
            raise TransformError(path, f"unknown transformation {show(spec)} ({hint})")
        if not KINDS[spec][2]:
            raise TransformError(path, f"{spec} needs arguments, such as {{ {spec} = … }}")
        return spec, None
    if not isinstance(spec, dict):
        raise TransformError(path, f"expected a transformation name or table, got {show(spec)}")
    named = [key for key in spec if key in KINDS]
    # `{ map = {…}, default = "x" }` names two: the one whose options hold the others wins.
    fits = [name for name in named if set(spec) - {name} <= KINDS[name][1]]
    if len(fits) == 1:
        return fits[0], spec
    if len(named) == 1:
        return named[0], spec  # its own Args.only names the unknown option
    if not named:
        raise TransformError(
            path, f"expected a table naming one transformation ({_NAMES}), got {show(spec)}"
        )
    raise TransformError(path, f"names several transformations ({', '.join(named)}): use a list")


def is_password(spec: object) -> bool:
    """True for a spec that generates a password (checked or not)."""
    return spec == "password" or (isinstance(spec, dict) and "password" in spec)


def generated_password(
    spec: TransformSpec, path: str, context: MappingContext
) -> PasswordSpec | None:
    """The password rules of a field whose transformation generates one, else None."""
    if isinstance(spec, list) and len(spec) == 1:
        spec = spec[0]
    if not is_password(spec):
        return None
    _, table = _kind(spec, path)
    return password_spec(Args("password", table, path))


def _conditional(args: Args, context: MappingContext) -> Step:
    """`{ if = { field = "department", matches = "^Sales" }, then = …, else = … }`.

    The test reads the source field `field` (without it, the value so far) with one of
    `matches` (a regular expression found anywhere; "^…$" for the whole value), `equals`
    (a text or a list of texts) or `empty` (true: no value). With `ignore_case = true`
    case is ignored. `then` and `else` are transformations; one left out keeps the value
    unchanged. A multi-valued value passes when any of its items does.
    """
    passes = compile_condition(args.main, args.path + ".if", "if", field_needed=False)
    then = _branch(args, "then", context)
    otherwise = _branch(args, "else", context)

    def decide(value: Value | None, record: Record) -> Value | None:
        chosen = then if passes(value, record) else otherwise
        return value if chosen is None else chosen(value, record)

    return decide


def _branch(args: Args, option: str, context: MappingContext) -> Step | None:
    if not args.has(option):
        return None
    spec = args.table[option]
    path = f"{args.path}.{option}"
    if is_password(spec) or (isinstance(spec, list) and any(map(is_password, spec))):
        raise TransformError(path, "a password cannot depend on a condition")
    return compile_transform(spec, path, context)


# name -> (builder, its options, usable as a bare name)
KINDS: dict[str, tuple[Builder, frozenset[str], bool]] = {
    "upper": (text.upper, frozenset(), True),
    "lower": (text.lower, frozenset(), True),
    "ascii": (text.ascii_text, frozenset(), True),
    "title": (text.title, frozenset(), True),
    "trim": (text.trim, frozenset(), True),
    "left": (text.left, frozenset(), False),
    "right": (text.right, frozenset(), False),
    "substring": (text.substring, frozenset({"length"}), False),
    "replace": (text.replace, frozenset({"with", "count", "regex", "ignore_case"}), False),
    "split": (text.split, frozenset({"nth"}), False),
    "nth": (text.nth, frozenset(), False),
    "static": (values.static, frozenset(), False),
    "join": (values.join, frozenset({"separator"}), False),
    "format": (format_text, frozenset(), False),
    "default": (values.default, frozenset({"value"}), False),
    "date": (values.date, frozenset({"to"}), False),
    "map": (values.value_map, frozenset({"default", "keep_unmapped", "ignore_case"}), False),
    "if": (_conditional, frozenset({"then", "else"}), False),
    "password": (_password, PASSWORD_OPTIONS, True),
    "script": (script, frozenset(), False),
}
_NAMES = ", ".join(KINDS)
