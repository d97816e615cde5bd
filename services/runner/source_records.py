"""A source's records on their way to the planner: checked, mapped, and failures kept.

Every job shape (one type, several types, references, the low-memory planner) maps its
source records here, so each treats a failure the same way: a record that cannot be
mapped (a transformation fails, a script skips it) is reported and *holds* its object —
the planner leaves it as it is instead of taking it for absent. A record whose key
itself cannot be mapped could be any object: then nothing is done about absence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.jobs import ObjectMapping
from schemas.plan import RecordError
from schemas.values import Record
from services.common.errors import BadInput
from services.runner.engine import match_key, with_container
from services.runner.engine.conditions import compile_condition, fields_tested
from services.runner.engine.lifecycle import LEAVER_FIELD
from services.runner.engine.mapping import CompiledMapping, fields_read
from services.runner.engine.scripts import RecordSkipped
from services.runner.engine.transforms import RecordFailed
from services.runner.providers.base import Provider


class SourceMapper:
    """Maps source records as they stream in; a record a transformation cannot handle
    becomes a record error, its object is held, and the others go on."""

    def __init__(
        self,
        compiled: CompiledMapping,
        canonical: Callable[[Record], Record],
        mapping: ObjectMapping,
        where: dict[str, Any] | None = None,
    ) -> None:
        self.compiled, self.canonical, self.mapping = compiled, canonical, mapping
        self.where = compile_condition(where, "$.source.where", "where") if where else None
        when = mapping.leavers.when if mapping.leavers else None
        self.leaving = compile_condition(when, "$.leavers.when", "when") if when else None
        self.outside = 0
        """Records read that the source's `where` leaves out of the job's scope."""
        self.errors: list[RecordError] = []
        self.fields: dict[str, None] = {}
        """Every source field seen, in first-seen order (a job copying every field)."""
        self.held: set[str] = set()
        """Match keys of the records that failed: their objects are not absent."""
        self.keyless_failures = 0
        """Records that failed and whose key could not be mapped either."""

    def map(self, batch: list[Record]) -> list[Record]:
        mapped: list[Record] = []
        compiled, canonical, mapping = self.compiled, self.canonical, self.mapping
        where, leaving = self.where, self.leaving
        for record in batch:
            self.fields.update(dict.fromkeys(record))
            if where is not None and not where(None, record):
                self.outside += 1  # its object, if any, is absent from the job's scope
                continue
            try:
                shaped = canonical(compiled.map(record))
            except RecordFailed as error:  # that record fails (or a script skips it)
                self._failed(record, error)
                continue
            # The container of a new object may come from a source field that is not
            # mapped: it travels with the mapped record under a reserved name.
            shaped = with_container(shaped, record, mapping)
            if leaving is not None and leaving(None, record):
                shaped[LEAVER_FIELD] = "yes"  # its object goes (lifecycle.py)
            mapped.append(shaped)
        return mapped

    def _failed(self, record: Record, error: RecordFailed) -> None:
        action = "skip" if isinstance(error, RecordSkipped) else "map"
        shown = self.compiled.key_of(record)
        self.errors.append(RecordError(key=shown, action=action, message=str(error)))
        try:
            keys = self.canonical(self.compiled.map_keys(record))
        except RecordFailed:
            self.keyless_failures += 1
            return
        key = match_key(keys, self.mapping.keys, self.mapping.case_insensitive)
        if key is not None:
            self.held.add(key)
        elif any(keys.get(field) for field in self.mapping.keys):
            self.keyless_failures += 1  # several values, or binary: any object

    def blind_warning(self) -> str | None:
        """Why absence is not acted on, when a failed record's key could not be read."""
        if not self.keyless_failures:
            return None
        return (
            f"{self.keyless_failures} source records failed before their key could be read: "
            "nothing is done about destination objects missing from the source in this run"
        )


def check_source_fields(
    mapping: ObjectMapping, source: Provider, path: str, where: dict[str, Any] | None
) -> None:
    """A field the mapping (or the source's `where`) reads that the source does not have is
    the job's error, found before anything is read: a renamed column must not make every
    record look empty — or, in a filter, every record look out of scope."""
    listed = getattr(source, "source_fields", None)
    known = listed() if listed is not None else None
    if known is None:
        return  # a directory, a plugin: its records name their fields one by one
    read = fields_read(mapping, path)
    for name in fields_tested(where):
        read.setdefault(name, "$.source.where")
    present = set(known)
    problems = [
        f"{at}: the source has no field {name!r}"
        for name, at in read.items()
        if name not in present
    ]
    if problems:
        fields = ", ".join(known) or "none"
        raise BadInput("; ".join(problems) + f" (its fields: {fields})")
