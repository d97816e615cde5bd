"""A source's records on their way to the planner: checked, mapped, and failures kept.

Every job shape (one type, several types, references, the low-memory planner) maps its
source records here, so each treats a failure the same way: a record that cannot be
mapped (a transformation fails, a script skips it) is reported and *holds* its object —
the planner leaves it as it is instead of taking it for absent. A record whose key
itself cannot be mapped could be any object: then nothing is done about absence.
"""

from __future__ import annotations

from collections.abc import Callable

from schemas.jobs import ObjectMapping
from schemas.plan import RecordError
from schemas.values import Record
from services.common.errors import BadInput
from services.runner.engine import match_key, with_container
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
    ) -> None:
        self.compiled, self.canonical, self.mapping = compiled, canonical, mapping
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
        for record in batch:
            self.fields.update(dict.fromkeys(record))
            try:
                shaped = canonical(compiled.map(record))
            except RecordFailed as error:  # that record fails (or a script skips it)
                self._failed(record, error)
                continue
            # The container of a new object may come from a source field that is not
            # mapped: it travels with the mapped record under a reserved name.
            mapped.append(with_container(shaped, record, mapping))
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


def check_source_fields(mapping: ObjectMapping, source: Provider, path: str) -> None:
    """A field the mapping reads that the source does not have is the job's error, found
    before anything is read: a renamed column must not make every record look empty."""
    listed = getattr(source, "source_fields", None)
    known = listed() if listed is not None else None
    if known is None:
        return  # a directory, a plugin: its records name their fields one by one
    present = set(known)
    problems = [
        f"{where}: the source has no field {name!r}"
        for name, where in fields_read(mapping, path).items()
        if name not in present
    ]
    if problems:
        fields = ", ".join(known) or "none"
        raise BadInput("; ".join(problems) + f" (its fields: {fields})")
