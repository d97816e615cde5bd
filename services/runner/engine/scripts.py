"""Scripts: the escape hatch — a Python function in an installed module the job names.

    { to = "login", transform = { script = "acme_idsync.rules:login" } }

The function is imported when the mapping is compiled (when a job is applied, and once
per run), never from code written in a job file; every runner must have the module
installed. It is called as `function(value, record, context)` with the field's value,
the whole source record and the run's MappingContext, and returns the new value — or
`SKIP` to leave the record out of the run (counted as skipped, with the reason given).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Final, NoReturn, cast

from schemas.values import Record, Value

from .context import MappingContext
from .transforms_base import Args, RecordFailed, Step


class Skip:
    """What a script returns to leave a record out; `Skip("why")` gives the reason."""

    def __init__(self, reason: str = "skipped by a script") -> None:
        self.reason = reason


SKIP: Final = Skip()


class RecordSkipped(RecordFailed):
    """The record is left out of the run on purpose (a script said so): skipped, not failed."""


def load(target: str, where: str, fail: Callable[[str], NoReturn]) -> Callable[..., Any]:
    """The callable "package.module:name" names; `fail` explains what is wrong."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        fail(f'expected "package.module:function", got {target!r}')
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        fail(f"cannot import {module_name} ({error}); install it where {where} runs")
    found = getattr(module, attribute, None)
    if not callable(found):
        fail(f"{module_name} has no function {attribute!r}")
    return cast(Callable[..., Any], found)


def script(args: Args, context: MappingContext) -> Step:
    function = load(
        args.text(label="the function, as package.module:function"), "idsync", args.fail
    )

    def call(value: Value | None, record: Record) -> Value | None:
        try:
            result = function(value, record, context)
        except Exception as error:  # the script's own failure: this record's error
            raise RecordFailed(f"script {function.__name__} failed: {error}") from None
        if isinstance(result, Skip):
            raise RecordSkipped(result.reason)
        texts = isinstance(result, list) and all(isinstance(item, str) for item in result)
        if result is not None and not (isinstance(result, str) or texts):
            raise RecordFailed(
                f"script {function.__name__} returned {type(result).__name__}, "
                "not text, a list of texts or None"
            )
        return cast(Value | None, result)

    return call
