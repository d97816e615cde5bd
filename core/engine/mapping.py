"""Mapping: a source record in the destination's shape, and what a job manages there.

Pure functions of a record and a job's `ObjectMapping`: no I/O, inputs never mutated.
A mapping with transformations is compiled once per run (`compile_mapping`);
`map_record` serves mappings without them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import chain, repeat
from operator import contains, itemgetter
from typing import Any, cast

from core.errors import BadInput
from schemas.jobs import FieldMap, ObjectMapping, TransformSpec
from schemas.values import (
    PlainColumns,
    Record,
    TextRows,
    Value,
    is_empty,
    normalize,
    split_text,
)

from .context import MappingContext
from .keys import KEY_SEPARATOR
from .passwords import PasswordSpec
from .transforms import (
    RecordFailed,
    Step,
    TransformError,
    compile_transform,
    generated_password,
    is_password,
)
from .transforms_base import texts_of
from .unique import check as check_unique
from .writable import check_items, check_text, several


def map_record(record: Record, mapping: ObjectMapping) -> Record:
    """The source `record` in destination shape, normalized (no empty values).

    With no field maps every field is copied under its own name. Otherwise each
    `FieldMap` takes its source field; a multi-valued field (one with a delimiter)
    whose source holds text is split on the delimiter, and a list stays a list.
    When two field maps write the same destination field, the later one wins. A value
    no destination can keep raises `RecordFailed`, as `CompiledMapping.map` does.
    Transformations need a run's context: `compile_mapping` applies them.
    """
    if any(field.transform is not None for field in mapping.fields):
        raise ValueError("this mapping has transformations: map it with compile_mapping")
    return CompiledMapping(mapping, _PLAIN, "$").map(record)


_PLAIN = MappingContext.checking("")
"""A context for mappings without transformations, which read none of it."""


def source_multi_valued(mapping: ObjectMapping) -> dict[str, str]:
    """Source field -> delimiter, for each multi-valued field (the source side's layout)."""
    return {field.source: field.delimiter for field in mapping.fields if field.delimiter}


def destination_multi_valued(mapping: ObjectMapping) -> dict[str, str]:
    """Destination field -> delimiter, for each multi-valued field."""
    return {field.to: field.delimiter for field in mapping.fields if field.delimiter}


def managed_fields(mapping: ObjectMapping, source_fields: Iterable[str]) -> tuple[str, ...]:
    """The destination fields the job writes, in order and without repeats.

    With field maps these are their `to` fields, but for generated passwords: a plan
    never holds them (the runner writes them on create), so it must not clear them
    either. When the job copies every field, they are the source fields seen, in
    first-seen order (so pass the fields of all source records read, not of one record).
    """
    if mapping.fields:
        return tuple(
            dict.fromkeys(field.to for field in mapping.fields if not generates(field.transform))
        )
    return tuple(dict.fromkeys(source_fields))


def generates(spec: TransformSpec | None) -> bool:
    """True for a transformation that generates a password (alone or as a list of one)."""
    if isinstance(spec, list):
        return len(spec) == 1 and is_password(spec[0])
    return is_password(spec)


def present(value: Value | None) -> Value | None:
    """The value as `normalize` keeps it (lists copied), None for every "no value".

    Lets the planner compare just the fields it needs instead of copying whole records.
    """
    if isinstance(value, str):
        return value or None
    if isinstance(value, list):
        return [item for item in value if item] or None
    return None if value is None or is_empty(value) else value


def normalized(record: Record) -> Record:
    """A normalized copy of `record` (lists copied too, so it shares nothing mutable)."""
    # normalize also accepts missing values (None) and only reads its argument, but dict
    # is invariant, so mypy needs telling that a Record is acceptable.
    return normalize(cast(dict[str, Value | None], record))


class CompiledMapping:
    """A job's `ObjectMapping` ready for one run: every transformation compiled once.

    `map(record)` is the hot path of planning: one dict built per record, no other
    copies, no regular expression compiled. `generated` names the destination fields
    whose values are generated passwords: they are never mapped (a plan must not hold
    a password); the runner makes them when it applies a create.
    """

    __slots__ = (
        "_copies",
        "_fields",
        "_gives_values",
        "_key_fields",
        "_key_sources",
        "_sources",
        "_written",
        "generated",
        "mapping",
    )

    def __init__(self, mapping: ObjectMapping, context: MappingContext, path: str) -> None:
        problems: list[str] = []
        self.mapping = mapping
        self.generated: dict[str, PasswordSpec] = {}
        fields: list[_Field] = []
        for at, field in enumerate(mapping.fields):
            here = f"{path}.fields[{at}]"
            try:
                step = _compile_field(field, mapping, here, context, self.generated)
            except TransformError as error:
                problems.append(str(error))
                continue
            if field.to not in self.generated:
                first = field.if_several == "first"
                fields.append((field.to, field.source, field.delimiter, step, first))
        if problems:
            raise BadInput("\n".join(problems))
        self._fields = tuple(fields)
        self._copies = None
        """(to, source, delimiter) of each field, when no field transforms its value."""
        if all(step is None for _, _, _, step, _ in fields):
            self._copies = tuple((to, source, delimiter) for to, source, delimiter, _, _ in fields)
        self._gives_values = self._copies is None
        """A transformation may give a record values of its own (a default, a static text):
        a blank one is mapped to none (`map`)."""
        written = tuple(to for to, _, _, _, _ in fields)
        self._written = written if len(set(written)) == len(written) else None
        """The fields written, each once (`copied`); None where two write the same one."""
        self._sources: Callable[[Record], Any] | None = None
        """Each field's source value of a record, at once (a tuple; one field: its value)."""
        if fields:
            self._sources = itemgetter(*(source for _, source, _, _, _ in fields))
        self._key_fields = tuple(field for field in fields if field[0] in mapping.keys)
        sources = {field.to: field.source for field in mapping.fields}
        self._key_sources = [sources.get(key, key) for key in mapping.keys]

    def map(self, record: Record) -> Record:
        """The source `record` in destination shape, normalized, transformed; a record
        a transformation cannot handle, or holding a value no destination can keep
        (writable.py: several values for a single-valued field, a control character),
        raises `RecordFailed` naming the field."""
        if not self.mapping.fields:
            return _copied(record)
        if self._copies is not None:
            return _shape_copies(record, self._copies) or _shape(record, self._fields)
        if self._gives_values and not any(map(filled, record.values())):
            return {}  # a blank row (empty cells, spaces) is no record: no value of its own
        return _shape(record, self._fields)

    def copied(self, records: list[Record]) -> tuple[tuple[str, ...], list[list[Value]]] | None:
        """The batch's records as `map` gives them, as columns — the fields written, and
        each one's values in the records' order (lists copied: nothing shared) —, read at
        once (in C) where every record is copied as it is (`_shape_copies`) and holds
        every field: printable text in a single-valued one, a list of printable texts in
        a multi-valued one. None otherwise, for `map` to take them one by one (and to fail
        those it fails). `records_from_columns` makes the records."""
        copies, sources = self._copies, self._sources
        if not copies or not records or sources is None or self._written is None:
            return None
        try:  # a field missing from a record: one by one
            values = list(map(sources, records))
        except KeyError:
            return None
        columns = list(zip(*values, strict=True)) if len(copies) > 1 else [tuple(values)]
        made: list[list[Value]] = []
        for (_, _, delimiter), column in zip(copies, columns, strict=True):
            if not all(column):  # an empty value: left out of its record
                return None
            if delimiter is None:
                # text (a subclass of str too: `_shape` keeps it as it is); else one by one
                if not all_printable(column):
                    return None
                made.append(list(column))
                continue
            if list(map(type, column)).count(list) != len(column):
                return None
            if any(map(contains, column, repeat(""))):
                return None
            if not all_printable(chain.from_iterable(column)):
                return None
            made.append(list(map(list.copy, column)))
        return self._written, made

    def copied_rows(self, rows: TextRows) -> tuple[tuple[str, ...], list[list[Value]]] | None:
        """`copied` of the records `rows` makes (`TextRows.records()`), taken from its
        columns without making them, where each field copied is a column whose every cell
        is printable text: a single-valued field's of a column not split, a multi-valued
        one's split by its column's delimiter into items none empty: `PlainColumns`. None
        otherwise (the records are then made, and `copied` or `map` looks at them)."""
        copies = self._copies
        if not copies or not rows.rows or self._written is None:
            return None
        place = {name: at for at, name in enumerate(rows.names)}
        if any(source not in place for _, source, _ in copies):
            return None
        columns = list(zip(*rows.rows, strict=True))
        made: list[list[Value]] = []
        for _, source, delimiter in copies:
            cells = cast(tuple[str, ...], columns[place[source]])
            split = rows.delimiters[place[source]]
            if (delimiter is None) != (split is None) or not all(cells):
                return None  # lists for a single-valued field, or text to split: `copied`
            if not all_printable(cells):  # a printable delimiter: items printable too
                return None
            if split is None:
                made.append(list(cells))
                continue
            items = list(map(str.split, cells, repeat(split)))
            if any(map(contains, items, repeat(""))):
                return None  # an empty item (a delimiter doubled, first or last)
            made.append(cast(list[Value], items))
        return self._written, PlainColumns(made)  # the cells `str` itself, as rows hold them

    def map_keys(self, record: Record) -> Record:
        """Only the key fields of `record`, mapped as `map` maps them: the object a record
        that failed stands for. Raises `RecordFailed` when a key's own mapping fails."""
        if not self.mapping.fields:
            return normalize({key: record.get(key) for key in self.mapping.keys})
        return _shape(record, self._key_fields)

    def key_of(self, record: Record) -> str:
        """The source record's key values as people read them ("" where there is none),
        for reporting a record that could not be mapped."""
        return KEY_SEPARATOR.join(self.key_texts(record))

    def key_texts(self, record: Record) -> list[str]:
        """The source record's value of each key, as people read it ("" where there is
        none): `key_of` before the values are joined."""
        return [", ".join(texts_of(record.get(source))) for source in self._key_sources]


_Field = tuple[str, str, str | None, Step | None, bool]
"""(to, source, delimiter, step, whether several values give the first)."""


def _shape(record: Record, fields: tuple[_Field, ...]) -> Record:
    """`fields` of `record` in destination shape: the hot path of planning, one dict built
    per record, no other copies. A value no destination can keep (writable.py) fails it."""
    shaped: Record = {}
    get = record.get
    to = ""
    try:
        for to, source, delimiter, step, first in fields:
            value = get(source)
            if step is not None:
                if delimiter is not None and value.__class__ is str:
                    value = split_text(value, delimiter)  # text steps see each item
                value = step(value, record)
            # what `present` does, inlined: this loop runs for every field of every record
            if value.__class__ is str:
                if not value:
                    continue
                if delimiter is not None:  # a source's text, or a join's or a static's
                    value = split_text(value, delimiter)
                    if not value:
                        continue
                    for item in cast(list[str], value):  # split with a delimiter
                        if not item.isprintable():
                            check_text(item)
                elif not value.isprintable():  # the rare text worth a closer look
                    check_text(value)
            elif value.__class__ is list:
                value = [item for item in value if item]  # a copy: nothing shared
                if not value:
                    continue
                if delimiter is None and len(value) > 1:
                    if not first:
                        raise several(value, source, to)
                    value = value[0]
                    check_text(value)
                else:
                    for item in value:
                        if not item.isprintable():
                            check_text(item)
            elif value is None or is_empty(value):
                continue
            shaped[to] = value
    except RecordFailed as error:  # named after the field; a skip stays a skip
        raise type(error)(error.problem, to) from None
    return shaped


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))
"""The ASCII characters `str.isprintable` passes."""


def all_printable(texts: Iterable[Value]) -> bool:
    """Whether every value is printable text (`str.isprintable`; False for anything
    else): all of them joined, ASCII looked at a byte at a time."""
    try:
        joined = "".join(cast(Iterable[str], texts))
    except TypeError:  # not text
        return False
    if joined.isascii():
        return not joined.encode("ascii").translate(None, _PRINTABLE_ASCII)
    return joined.isprintable()


def _shape_copies(record: Record, copies: tuple[tuple[str, str, str | None], ...]) -> Record:
    """`_shape` of a record whose fields are copied as they are, when each holds printable
    text or nothing, or (a multi-valued field) a list of printable texts; else an empty
    record, for `_shape` to look at each value (and to name the field that fails)."""
    shaped: Record = {}
    get = record.get
    for to, source, delimiter in copies:
        value = get(source)
        if value.__class__ is str and delimiter is None:
            if value:
                if not value.isprintable():
                    return {}
                shaped[to] = value
        elif value is None:
            continue
        elif value.__class__ is list and delimiter is not None and value and "" not in value:
            try:
                if not "".join(value).isprintable():
                    return {}
            except TypeError:  # not text
                return {}
            shaped[to] = value.copy()  # nothing shared
        else:
            return {}
    return shaped


def _compile_field(
    field: FieldMap,
    mapping: ObjectMapping,
    path: str,
    context: MappingContext,
    generated: dict[str, PasswordSpec],
) -> Step | None:
    """The field's step (None: copied as is); a generated password goes to `generated`."""
    if field.transform is None:
        return None
    where = f"{path}.transform"
    password = generated_password(field.transform, where, context)
    if password is None:
        return compile_transform(field.transform, where, context)
    if field.to in mapping.keys:
        raise TransformError(where, f'a key field ("{field.to}") cannot be a generated password')
    if field.from_ is not None:
        raise TransformError(where, "a generated password reads no source field: remove from")
    if field.delimiter is not None:
        raise TransformError(where, "a generated password is one value: remove delimiter")
    generated[field.to] = password
    return None


def compile_mapping(
    mapping: ObjectMapping, context: MappingContext, path: str = "$.objects[0]"
) -> CompiledMapping:
    """The mapping compiled for one run; `BadInput` lists every transformation written
    wrongly, each with its path in the job ("$.objects[0].fields[2].transform")."""
    return CompiledMapping(mapping, context, path)


def _copied(record: Record) -> Record:
    """A job without field maps: every field as it is, normalized; text with a control
    character fails the record (lists stay lists: nothing says a field holds one)."""
    copied = normalized(record)
    for name, value in copied.items():
        try:
            if isinstance(value, str):
                check_text(value)
            elif isinstance(value, list):
                check_items(value)
        except RecordFailed as error:
            raise RecordFailed(error.problem, name) from None
    return copied


def check_mapping(mapping: ObjectMapping, path: str, job_id: str) -> list[tuple[str, str]]:
    """Every problem of the mapping's transformations (and unique values) as (path, what
    to fix): what `check_job` reports when a job is applied."""
    found: list[tuple[str, str]] = []
    context = MappingContext.checking(job_id)
    for at, field in enumerate(mapping.fields):
        try:
            _compile_field(field, mapping, f"{path}.fields[{at}]", context, {})
        except TransformError as error:
            found.append((error.path, error.problem))
        found += check_unique(field, mapping, f"{path}.fields[{at}]")
    return found


def filled(value: object) -> bool:
    """A source value that is something: not missing, empty, nor text of spaces alone."""
    return bool(value.strip()) if isinstance(value, str) else bool(value) or value == 0
