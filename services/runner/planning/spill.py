"""The creates of a large plan, kept on disk while it is planned and read back in order.

A first run of a million records creates a million objects: held as changes, they take
gigabytes. The low-memory planner hands each plain create (a source record whose key
the destination does not hold) to a `Spill` instead: its change is made at once, as
`plan()` makes it (`Planner.on_source_only`), encoded as the plan's hash encodes it,
and kept in sorted runs of `RUN_SIZE` in one temporary file (deleted when the plan is
let go). `SpilledPlan` then merges the runs with the changes planned in memory (updates,
deletes, anything unusual) in the plan's own order — (rank, key), as `Planner.finish`
sorts — so the plan is the very same list of changes, with the very same hash, read
from disk as often as it is needed: once for the hash and the counts (and to find a
key twice in the source), then for the batches.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import operator
import os
import struct
import tempfile
from collections.abc import Callable, Collection, Iterator, Sequence
from itertools import chain, repeat
from typing import IO, Literal, TypeVar, cast, overload

import msgspec

from core.engine.keys import DuplicateKey, display_key, match_key
from core.engine.phases import rank
from core.engine.plan import HASH_ENCODER, PlanHash, array_header, encoded_for_hash
from core.engine.planner import Planner
from schemas.jobs import ObjectMapping
from schemas.plan import Change, PlanCounts
from schemas.values import Binary, PlainColumns, Record, Value, records_from_columns
from schemas.work import Creates

RUN_SIZE = 100_000
"""Creates sorted in memory before they go to disk together (some 30 MB of them, encoded):
a plan of no more is merged from memory."""
READ_AHEAD = 1 << 20
"""Bytes read at once from each run while merging."""
CHUNK = 1_000
"""Entries (or keys) encoded together on disk: one msgpack array each, written and read
back in one call rather than one per change."""

Entry = tuple[str, bytes]
"""A change's place in its plan (`order`) and the change as the hash encodes it."""

_frame = struct.Struct("<I")
_entry_encoder = msgspec.msgpack.Encoder()
_entries_decoder = msgspec.msgpack.Decoder(list[tuple[str, bytes]])
_keys_decoder = msgspec.msgpack.Decoder(list[str])
_change_decoder = msgspec.msgpack.Decoder(Change)
_DEPTH = 50_000
T = TypeVar("T")
_ESCAPES = str.maketrans({"\x00": "\x01\x01", "\x01": "\x01\x02"})


def order(change: Change, key: str) -> str:
    """One text that sorts as (rank, match key) — the plan's order, `Planner.finish` —
    so that merging compares texts only: the numbers fixed-width, the texts after them
    each ended by NUL (and a NUL or \\x01 in them escaped, keeping their order)."""
    return order_of(rank(change), key)


def order_of(ranked: tuple[int, int, int, str, str], key: str) -> str:
    """`order` of a change already ranked (`phases.rank`)."""
    phase, action, depth, object_type, shown = ranked
    texts = f"{object_type}\x00{shown}\x00{key}"
    if "\x01" in texts or texts.count("\x00") != 2:
        texts = "\x00".join(t.translate(_ESCAPES) for t in (object_type, shown, key))
    return f"{phase:03d}{action:03d}{depth + _DEPTH:05d}{texts}"


def phase_of_order(place: str) -> str:
    return place[:3]


def identity_of_order(place: str) -> tuple[str, str]:
    """The object type and key as shown of the change at this place."""
    object_type, shown, _ = place[11:].split("\x00")
    if "\x01" in object_type or "\x01" in shown:
        object_type, shown = (
            t.replace("\x01\x01", "\x00").replace("\x01\x02", "\x01") for t in (object_type, shown)
        )
    return object_type, shown


def key_of_order(place: str) -> str:
    return place[11:].rsplit("\x00", 1)[1]


class Spill:
    """The plain creates of one object type, planned one by one onto disk."""

    def __init__(self, mapping: ObjectMapping, managed: Sequence[str]) -> None:
        self.planner = Planner(mapping, managed)
        self.keys = tuple(mapping.keys)
        self.case_insensitive = mapping.case_insensitive
        self.records = 0
        """Source records taken (each a create, or skipped by `on_source_only`)."""
        self.entries = 0
        """Changes spilled."""
        self._file: IO[bytes] | None = None
        """Made when a first run goes to disk; lives as long as the plan read from it, and
        is deleted when closed or let go."""
        self._runs: list[tuple[tuple[int, int], tuple[int, int]]] = []
        """Each run: where its entries are in the file, and where its sorted keys are."""
        self._size = 0
        """Bytes written to the file."""
        self._written = 0
        """Changes in the runs on disk."""
        self._buffer: list[Entry] = []
        self._keys: list[str] = []
        """The match key of each change in the buffer, and of each record skipped rather
        than created (to find one twice)."""
        self._quick = quick_creates(self.planner)
        self._quick_batch = quick_batch(self.planner)
        self._quick_columns = _quick_columns(self.planner)
        self._values: dict[int, msgspec.Struct] | None = {}
        """The fields set by each create planned from columns (`add_columns`) and still in
        memory, by the id of its entry's bytes: what the batch sent as columns is made of
        (`SpilledPlan.values_of`). None once a run went to disk."""
        self._created = 0
        """Creates planned the quick way (`quick_creates`), not in the planner's counts."""

    def add(self, key: str, record: Record) -> None:
        """Plan the create of a source record whose key the destination does not hold."""
        self.records += 1
        if len(self._keys) >= RUN_SIZE:  # full (keys skipped too), and more to come: to disk
            self._write_run()
        quick = self._quick
        if quick is not None and (entry := quick(key, record)) is not None:
            self._buffer.append(entry)
            self._keys.append(key)
            self._created += 1
        else:
            planner = self.planner
            planner.on_source_only(key, record)
            for ranked, match, change in planner.ranked:
                self._buffer.append((order_of(ranked, match), encoded_for_hash(change)))
                self._keys.append(match)
            if not planner.ranked:  # skipped (`on_source_only = "skip"`): its key still
                self._keys.append(key)  # found twice refuses the plan, as `plan()` does
            planner.ranked.clear()
        self.entries = len(self._buffer) + self._written

    def add_all(self, keys: list[str], records: list[Record]) -> None:
        """`add` of each record (with its key, in turn): those of a batch the quick way
        serves whole planned at once (`quick_batch`), the others one by one."""
        done = 0
        while done < len(records):
            if len(self._keys) >= RUN_SIZE:  # full, and more to come: to disk
                self._write_run()
            end = done + RUN_SIZE - len(self._keys)
            some_keys, some = keys[done:end], records[done:end]
            quick = self._quick_batch
            entries = quick(some_keys, some) if quick is not None else None
            if entries is None:
                for key, record in zip(some_keys, some, strict=True):
                    self.add(key, record)
            else:
                self._took(some_keys, entries)
            done = end

    def add_columns(
        self, keys: list[str], fields: tuple[str, ...], columns: list[list[Value]]
    ) -> None:
        """`add_all` of the records the columns make (`records_from_columns`: the fields,
        each one's values in the records' order): those the quick way serves planned from
        the columns, no record made."""
        done = 0
        while done < len(keys):
            if len(self._keys) >= RUN_SIZE:  # full, and more to come: to disk
                self._write_run()
            end = done + RUN_SIZE - len(self._keys)
            some_keys, some = keys[done:end], [column[done:end] for column in columns]
            if isinstance(columns, PlainColumns):
                some = PlainColumns(some)
            quick = self._quick_columns
            made = quick(some_keys, fields, some) if quick is not None else None
            if made is None:
                self.add_all(some_keys, records_from_columns(fields, some))
            else:
                entries, sets = made
                self._took(some_keys, entries)
                if self._values is not None:
                    self._values.update(zip(map(id, map(_data_of, entries)), sets, strict=True))
            done = end

    def _took(self, keys: list[str], entries: list[Entry]) -> None:
        """The creates of these keys planned the quick way: their entries buffered."""
        self.records += len(keys)
        self._buffer += entries
        self._keys += keys
        self._created += len(keys)
        self.entries = len(self._buffer) + self._written

    @property
    def counts(self) -> PlanCounts:
        """The counts of the changes planned (and of the records skipped)."""
        counts = self.planner.counts
        return msgspec.structs.replace(counts, create=counts.create + self._created)

    def _write_run(self) -> None:
        """The buffer sorted in plan order, then its match keys sorted (to find one twice:
        in plan order, keys alike but for case or spaces need not be next to each other)."""
        self._buffer.sort()
        self._keys.sort()
        entries = self._chunk(self._buffer)
        keys = self._chunk(self._keys)
        self._runs.append((entries, keys))
        self._written += len(self._buffer)
        self._buffer, self._keys = [], []
        self._values = None  # the entries let go: their ids may be another's

    def _chunk(self, items: Sequence[Entry] | Sequence[str]) -> tuple[int, int]:
        """`items` written at the end of the file, CHUNK at a time (each framed by its size):
        where they are."""
        frames = []
        for at in range(0, len(items), CHUNK):
            data = _entry_encoder.encode(items[at : at + CHUNK])
            frames.append(_frame.pack(len(data)))
            frames.append(data)
        chunk = b"".join(frames)
        start = self._size
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="idsync-plan-")  # noqa: SIM115
        self._file.seek(start)
        self._file.write(chunk)
        self._file.flush()
        self._size += len(chunk)
        return start, len(chunk)

    def sorted_runs(self) -> list[Iterator[Entry]]:
        """Each run in plan order; those still in memory as one more run."""
        self._buffer.sort()
        runs: list[Iterator[Entry]] = [
            self._read(_entries_decoder, *entries) for entries, _ in self._runs
        ]
        if self._buffer:
            runs.append(iter(self._buffer))
        return runs

    def sorted_keys(self) -> Iterator[str]:
        """Every spilled match key, in order."""
        runs = [self._read(_keys_decoder, *keys) for _, keys in self._runs]
        if self._keys:
            self._keys.sort()
            runs.append(iter(self._keys))
        return runs[0] if len(runs) == 1 else heapq.merge(*runs)

    def _read(
        self, decoder: msgspec.msgpack.Decoder[list[T]], start: int, size: int
    ) -> Iterator[T]:
        """The items `_chunk` wrote there, decoded a chunk at a time."""
        return itertools.chain.from_iterable(map(decoder.decode, self._frames(start, size)))

    def _frames(self, start: int, size: int) -> Iterator[bytes]:
        assert self._file is not None  # a run was written to it
        fd = self._file.fileno()
        at, end, pending = start, start + size, b""
        while at < end:
            pending += os.pread(fd, min(READ_AHEAD, end - at), at)
            at += READ_AHEAD
            offset = 0
            while offset + 4 <= len(pending):
                (length,) = _frame.unpack_from(pending, offset)
                if offset + 4 + length > len(pending):
                    break
                yield pending[offset + 4 : offset + 4 + length]
                offset += 4 + length
            pending = pending[offset:]
        if pending:
            raise RuntimeError("a spilled plan's run ends in the middle of a change")

    def warnings(self) -> list[str]:
        """What planning the creates found wrong (the first ones, then how many more)."""
        planner = self.planner
        return [*planner.warnings, *planner.overflow()]


def quick_creates(planner: Planner) -> Callable[[str, Record], Entry | None] | None:
    """The quick way to plan a create, for the planner's mapping when it has one: the
    entry (`order`, `encoded_for_hash`) of the very change `Planner.on_source_only` plans,
    made without the planner's copies — or None for a record it does not serve, which
    the planner then plans. It serves a record whose every field is written and holds a
    value the planner writes as it is (non-empty text, a list of non-empty items, binary
    data), with a key that is not a DN and holds no NUL nor \\x01; a mapping that creates,
    in a fixed container (not one each source record names)."""
    mapping = planner.mapping
    object_type, container = mapping.type, mapping.container
    if (
        mapping.on_source_only != "create"
        or mapping.container_from is not None
        or "\x00" in object_type
        or "\x01" in object_type
    ):
        return None
    probe = Change(action="create", key="", match={}, object_type=object_type, container=container)
    phase, action, _, _, _ = rank(probe)
    prefix = f"{phase:03d}{action:03d}{_DEPTH:05d}{object_type}\x00"
    written = frozenset(planner.written)
    keys = planner.keys
    single = keys[0] if len(keys) == 1 else None
    encode = HASH_ENCODER.encode

    def create(key: str, record: Record) -> Entry | None:
        if not record.keys() <= written:
            return None
        for value in record.values():
            if value.__class__ is str:
                if not value:
                    return None
            elif value.__class__ is list:
                if not value or not all(value):
                    return None
            elif value.__class__ is not Binary or not value.data:
                return None
        if single is not None:
            shown = cast(str, record[single])  # text: its match key was read
            match: Record = {single: shown}
        else:
            shown = display_key(record, keys)
            match = {field: record[field] for field in keys}
        if "=" in shown:
            return None  # perhaps a DN, whose depth orders it (phases.rank)
        place = f"{prefix}{shown}\x00{key}"
        if "\x01" in place or place.count("\x00") != 2:
            return None  # escaped by `order_of`
        return place, encode(_Create("create", shown, match, record, object_type, container))

    return create


def quick_batch(
    planner: Planner,
) -> Callable[[list[str], list[Record]], list[Entry] | None] | None:
    """`quick_creates` of a batch at once, looked at in C: the entries of every record
    (with its match key), or None when the quick way does not serve each one of them —
    then each is planned in turn. It serves the records `quick_creates` serves, of a
    mapping with one key field, whose values are text or lists of text."""
    made = _quick_made(planner)
    if made is None:
        return None
    written, single = frozenset(planner.written), planner.keys[0]

    def create_all(keys: list[str], records: list[Record]) -> list[Entry] | None:
        if not set().union(*records) <= written:
            return None
        if not _plain_values(list(chain.from_iterable(map(dict.values, records)))):
            return None  # empty, binary (planned one by one), or anything else
        shown = list(map(dict.get, records, repeat(single)))
        return made(keys, shown, records)

    return create_all


def quick_columns(
    planner: Planner,
) -> Callable[[list[str], tuple[str, ...], list[list[Value]]], list[Entry] | None] | None:
    """`quick_batch` of the records a batch's columns make (`records_from_columns`: the
    fields, each one's values in the records' order), taken from the columns: the same
    entries, byte for byte, no record made."""
    quick = _quick_columns(planner)
    if quick is None:
        return None

    def entries_of(
        keys: list[str], fields: tuple[str, ...], columns: list[list[Value]]
    ) -> list[Entry] | None:
        made = quick(keys, fields, columns)
        return None if made is None else made[0]

    return entries_of


def _quick_columns(
    planner: Planner,
) -> (
    Callable[
        [list[str], tuple[str, ...], list[list[Value]]],
        tuple[list[Entry], list[msgspec.Struct]] | None,
    ]
    | None
):
    """`quick_columns`, with the fields each create sets: a struct of their values, their
    fields in sorted order (`_set_of`)."""
    made = _quick_made(planner)
    if made is None:
        return None
    written, single = frozenset(planner.written), planner.keys[0]
    shapes: dict[tuple[str, ...], tuple[Callable[..., Record], list[int]]] = {}

    def create_columns(
        keys: list[str], fields: tuple[str, ...], columns: list[list[Value]]
    ) -> tuple[list[Entry], list[msgspec.Struct]] | None:
        if not set(fields) <= written or single not in fields or len(set(fields)) != len(fields):
            return None
        if not isinstance(columns, PlainColumns) and not all(map(_plain_values, columns)):
            return None
        if (shape := shapes.get(fields)) is None:
            shape = shapes[fields] = _set_of(fields)
        make, ordered = shape
        sets = cast(list[Record], list(map(make, *map(columns.__getitem__, ordered))))
        entries = made(keys, columns[fields.index(single)], sets)
        return None if entries is None else (entries, cast(list[msgspec.Struct], sets))

    return create_columns


def _set_of(fields: tuple[str, ...]) -> tuple[Callable[..., Record], list[int]]:
    """What makes a record encoded by HASH_ENCODER as the dict of the fields' values is
    (its fields in sorted order), of one value of each field in the order of the places
    given with it (the fields' places, sorted by name)."""
    ordered = sorted(range(len(fields)), key=fields.__getitem__)
    names = [f"f{at:05d}" for at in range(len(fields))]  # their sorted order: `ordered`
    shape = msgspec.defstruct(
        "Set",
        names,
        rename={names[at]: fields[place] for at, place in enumerate(ordered)},
        gc=False,
        frozen=True,
    )
    return cast(Callable[..., Record], shape), ordered


def _plain_values(values: list[Value]) -> bool:
    """Whether every value is non-empty text or a list of non-empty texts (no subclass)."""
    kinds = list(map(type, values))
    lists = kinds.count(list)
    if not all(values) or kinds.count(str) + lists != len(values):
        return False
    if lists:
        items = list(chain.from_iterable(v for v in values if v.__class__ is list))
        if not all(items) or set(map(type, items)) - {str}:
            return False
    return True


def _quick_made(
    planner: Planner,
) -> Callable[[list[str], Sequence[Value | None], list[Record]], list[Entry] | None] | None:
    """The entries of creates of plain values (checked), given their match keys, their
    key field's values and their records (or what encodes as they do); None where a key
    is not text or may be a DN or escaped (`order_of`). None where the quick way does not
    serve the planner's mapping."""
    mapping = planner.mapping
    if quick_creates(planner) is None or len(planner.keys) != 1:
        return None
    object_type, container = mapping.type, mapping.container
    probe = Change(action="create", key="", match={}, object_type=object_type, container=container)
    phase, action, _, _, _ = rank(probe)
    prefix = f"{phase:03d}{action:03d}{_DEPTH:05d}{object_type}\x00"
    single = planner.keys[0]
    encode = HASH_ENCODER.encode

    def made(
        keys: list[str], shown: Sequence[Value | None], records: list[Record]
    ) -> list[Entry] | None:
        if set(map(type, shown)) != {str}:
            return None
        texts = cast(list[str], shown)
        # "=" (a DN, perhaps), NUL and \x01 (escaped by `order_of`) are single characters:
        # in the joined texts exactly when in one of them.
        joined = "".join(texts)
        if "=" in joined or "\x00" in joined or "\x01" in joined:
            return None
        if "\x00" in (joined := "".join(keys)) or "\x01" in joined:
            return None
        places = [f"{prefix}{text}\x00{key}" for text, key in zip(texts, keys, strict=True)]
        matches = [{single: text} for text in texts]
        creates = map(
            _Create,
            repeat("create"),
            texts,
            matches,
            records,
            repeat(object_type),
            repeat(container),
        )
        return list(zip(places, map(encode, creates), strict=True))

    return made


class _Create(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """A plain create's fields, as `Change` holds them — the others left at their defaults,
    which `Change` omits — so encoded as that `Change` is, byte for byte, and made quicker
    (no empty dicts for the fields it leaves out)."""

    action: str
    key: str
    match: Record
    set: Record = msgspec.field(default_factory=dict)
    object_type: str = "user"
    container: str | None = None


class SpilledPlan(Sequence[Change]):
    """The changes of a plan: those planned in memory merged with the spilled creates, in
    the plan's order, decoded as they are read (a sequence read front to back)."""

    def __init__(
        self, spill: Spill, planned: Sequence[Change], mapping: ObjectMapping, count: int
    ) -> None:
        self._spill = spill
        self._planned = planned
        self._keys = tuple(mapping.keys)
        self._case_insensitive = mapping.case_insensitive
        self._count = count
        self._skeletons: dict[type, tuple[int, int]] = {}
        """Per shape of values planned from columns: what `column_size` takes off, and the
        bytes of a batch of them sent as columns once (`column_size`)."""

    @property
    def planned(self) -> Sequence[Change]:
        """The changes planned in memory (the spilled ones are plain creates)."""
        return self._planned

    def values_of(self, entries: Sequence[Entry]) -> list[msgspec.Struct] | None:
        """The values each of these entries' creates sets, as planned from columns (a
        struct each, their fields in sorted order); None unless every one was (and is
        still in memory)."""
        values = self._spill._values
        if values is None:
            return None
        try:
            return list(map(values.__getitem__, map(id, map(_data_of, entries))))
        except KeyError:
            return None

    def column_size(self, entry: Entry) -> tuple[object, int, int] | None:
        """Of a create planned from columns (and still in memory): the shape of its values
        (the same object for every create of one shape), at most the bytes its values
        take sent as columns (`as_columns`) — its encoded size but for the field names and
        the key twice — and the bytes a batch of them takes once for its shape: the field
        names (however many and long they are) and each column's header. None for any
        other change."""
        values = self._spill._values
        if not values:
            return None
        found = values.get(id(entry[1]))
        if found is None:
            return None
        shape = type(found)
        sizes = self._skeletons.get(shape)
        if sizes is None:
            fields = list(cast(tuple[str, ...], getattr(shape, "__struct_encode_fields__", ())))
            once = len(_entry_encoder.encode([fields, self._keys[0]])) + 5 * len(fields)
            sizes = self._skeletons[shape] = (_skeleton_size(entry[1]), once)
        return shape, len(entry[1]) - sizes[0], sizes[1]

    @property
    def from_columns(self) -> bool:
        """Whether creates planned from columns are still in memory (`column_size`)."""
        return bool(self._spill._values)

    def column_batch(
        self, ahead: Sequence[Entry], most: int, room: int
    ) -> list[msgspec.Struct] | None:
        """The values of the creates that make the batch these entries start — the plan's
        next ones, in order — cut as `Batched._spilled` cuts it a change at a time, where
        each is a create planned from columns of one shape in one phase: at most `most`,
        their columns and the shape's once (`column_size`) in `room` bytes, up to the next
        phase, another change, or the plan's end (fewer than `most + 1` entries given).
        None where a change of another kind would join the batch."""
        values = self._spill._values
        sized = self.column_size(ahead[0]) if values else None
        if values is None or sized is None:
            return None
        shape, _, once = sized
        skeleton = self._skeletons[cast(type, shape)][0]
        data = list(map(_data_of, ahead))
        found = list(map(values.get, map(id, data)))
        kinds = list(map(type, found))
        count = len(ahead)
        alike = count
        if kinds.count(shape) != count:  # type: ignore[arg-type]
            alike = next(at for at, kind in enumerate(kinds) if kind is not shape)
        same = count
        first = phase_of_order(ahead[0][0])
        if phase_of_order(ahead[-1][0]) != first:  # sorted: a phase's changes are together
            same = next(at for at, (place, _) in enumerate(ahead) if phase_of_order(place) != first)
        sizes = itertools.accumulate(map(operator.sub, map(len, data[:alike]), repeat(skeleton)))
        fit = max(1, bisect.bisect_right(list(sizes), room - once))
        taken = min(most, fit, same, alike)
        if taken == count or taken in (most, same) or (taken == fit and taken < alike):
            return cast(list[msgspec.Struct], found[:taken])
        return None  # another change would join the batch: cut a change at a time

    def encoded(self) -> Iterator[bytes]:
        """Each change as the plan's hash encodes it, in order."""
        return map(_data_of, self.entries())

    def entries(self) -> Iterator[Entry]:
        """Each change's place and encoding, in order."""

        def planned() -> Iterator[Entry]:
            for change in self._planned:
                key = match_key(change.match, self._keys, self._case_insensitive) or ""
                yield order(change, key), encoded_for_hash(change)

        runs = self._spill.sorted_runs()
        if not self._planned and len(runs) == 1:
            return runs[0]  # nothing to merge: the creates alone, read as they are
        return heapq.merge(planned(), *runs)

    def __iter__(self) -> Iterator[Change]:
        for data in self.encoded():
            yield _change_decoder.decode(data)

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Change: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Change]: ...
    def __getitem__(self, index: int | slice) -> Change | Sequence[Change]:
        if isinstance(index, slice):
            return list(itertools.islice(self, *index.indices(self._count)))
        if not -self._count <= index < self._count:
            raise IndexError(index)
        return next(itertools.islice(self, index % self._count, None))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(other) == self._count and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]


def settle(
    spill: Spill, planned: Sequence[Change], mapping: ObjectMapping, new_in_memory: Collection[str]
) -> tuple[SpilledPlan, str]:
    """The whole plan and its hash, read once through — once the spilled keys have been
    read once through too: a key two spilled creates share, or one with a source record
    planned in memory whose key the destination does not hold either (`new_in_memory`: a
    leaver's, say) refuses the plan, as `plan()` refuses it."""
    keys, following = itertools.tee(spill.sorted_keys())
    next(following, None)
    if any(map(operator.eq, keys, following)) or (
        new_in_memory and not frozenset(new_in_memory).isdisjoint(spill.sorted_keys())
    ):
        last = ""
        for key in spill.sorted_keys():  # which key: read them again, one by one
            if key == last or key in new_in_memory:
                raise _duplicate(spill, key)
            last = key
    merged = SpilledPlan(spill, planned, mapping, len(planned) + spill.entries)
    digest = PlanHash(len(merged))
    digest.update_all(merged.encoded())
    return merged, digest.hexdigest()


_data_of = operator.itemgetter(1)


def _duplicate(spill: Spill, key: str) -> DuplicateKey:
    """The error naming the records of the key found twice (those spilled: the first)."""
    found = [
        _change_decoder.decode(data)
        for place, data in itertools.chain.from_iterable(spill.sorted_runs())
        if key_of_order(place) == key
    ]
    if not found:  # records skipped, not created: their key alone is known
        return DuplicateKey(key, {}, {})
    first = {**found[0].match, **found[0].set}
    second = {**found[-1].match, **found[-1].set} if len(found) > 1 else first
    return DuplicateKey(found[0].key, first, second)


def spilled_record(spill: Spill, key: str) -> Record | None:
    """The record of the create spilled with the match key `key`, as planned; None when
    none was."""
    for place, data in itertools.chain.from_iterable(spill.sorted_runs()):
        if key_of_order(place) == key:
            change = _change_decoder.decode(data)
            return {**change.match, **change.set}
    return None


def merged_counts(planned: PlanCounts, spilled: PlanCounts) -> PlanCounts:
    """The counts of the changes planned in memory and of the spilled ones."""
    totals = msgspec.structs.asdict(planned)
    for name, value in msgspec.structs.asdict(spilled).items():
        totals[name] += value
    return PlanCounts(**totals)


def decoded(data: bytes) -> Change:
    change: Change = _change_decoder.decode(data)
    return change


def as_columns(
    entries: Sequence[Entry], values: Sequence[msgspec.Struct] | None = None
) -> Creates | None:
    """The changes of these entries as columns (`Creates`) when every one is a plain
    create — of one object type and container, matched by one key field whose value is
    its key, setting the same fields, nothing else — else None. Taken from `values`, the
    fields each create sets as it was planned from columns (`SpilledPlan.values_of`),
    where every entry has them: only the first entry decoded. Else decoded in one call
    into structs of the first change's shape (`_rows_of`), no dict made per change; a
    change of another shape or with any other field fails that decode."""
    if not entries:
        return None
    first = decoded(entries[0][1])
    if (
        first.action != "create"
        or len(first.match) != 1
        or first != _plain(first.key, first.match, first.set, first.object_type, first.container)
    ):
        return None
    (field,) = first.match
    if first.set.get(field) != first.key or first.match[field] != first.key:
        return None
    fields = tuple(first.set)  # sorted, as encoded
    rows = _rows_of(field, fields)
    at = fields.index(field)
    shapes = set(map(type, values)) if values is not None else set()
    if len(shapes) == 1 and getattr(shapes.pop(), "__struct_encode_fields__", ()) == fields:
        # Each planned from columns, as `_quick_made` makes a plain create of its values.
        try:
            decoded_rows = rows.decode(b"".join([array_header(1), entries[0][1]]))
        except msgspec.ValidationError:
            return None
        columns = [list(column) for column in zip(*map(_astuple, values or ()), strict=True)]
    else:
        try:
            decoded_rows = rows.decode(
                b"".join([array_header(len(entries)), *map(_data_of, entries)])
            )
        except msgspec.ValidationError:
            return None
        columns = [list(column) for column in zip(*map(_values, decoded_rows), strict=True)]
        keys = columns[at]
        if list(map(_key, decoded_rows)) != keys or list(map(_matched, decoded_rows)) != keys:
            return None
    placed = set(map(_placed, decoded_rows))
    if len(placed) != 1:
        return None
    ((object_type, container),) = placed
    return Creates(
        key_field=field,
        fields=fields,
        columns=columns,
        object_type="user" if object_type is None else object_type,
        type_written=object_type is not None,
        container=container,
    )


def _skeleton_size(data: bytes) -> int:
    """The bytes of a plain create, encoded, that are not its values sent as columns: the
    create with its key and every value empty, less a byte for each value (an empty one's
    header, which its column holds)."""
    change = decoded(data)
    empty: dict[str, Value] = {f: [] if isinstance(v, list) else "" for f, v in change.set.items()}
    skeleton = msgspec.structs.replace(
        change, key="", match=dict.fromkeys(change.match, ""), set=empty
    )
    return len(encoded_for_hash(skeleton)) - len(empty)


def _plain(
    key: str, match: Record, values: Record, object_type: str, container: str | None
) -> Change:
    return Change(
        action="create",
        key=key,
        match=match,
        set=values,
        object_type=object_type,
        container=container,
    )


_rows: dict[tuple[str, tuple[str, ...]], msgspec.msgpack.Decoder[list[msgspec.Struct]]] = {}
_key = operator.attrgetter("key")
_astuple = msgspec.structs.astuple
_placed = operator.attrgetter("object_type", "container")
_matched = operator.attrgetter("match.value")


def _values(row: msgspec.Struct) -> tuple[Value, ...]:
    return msgspec.structs.astuple(row.set)  # type: ignore[attr-defined]


def _rows_of(field: str, fields: tuple[str, ...]) -> msgspec.msgpack.Decoder[list[msgspec.Struct]]:
    """A decoder of plain creates matched by `field` and setting `fields` (in this order)
    into structs: a change with any other field, or without one of these, fails it."""
    decoder = _rows.get((field, fields))
    if decoder is None:
        names = [f"f{at:05d}" for at in range(len(fields))]
        values = msgspec.defstruct(
            "Values",
            [(name, Value) for name in names],
            rename=dict(zip(names, fields, strict=True)),
            forbid_unknown_fields=True,
            gc=False,
        )
        match = msgspec.defstruct(
            "Match", [("value", str)], rename={"value": field}, forbid_unknown_fields=True, gc=False
        )
        row = msgspec.defstruct(
            "Row",
            [
                ("action", Literal["create"]),
                ("key", str),
                ("match", match),
                ("set", values),
                ("object_type", str | None, None),  # None: left out, the default
                ("container", str | None, None),
            ],
            forbid_unknown_fields=True,
            gc=False,
        )
        decoder = _rows[(field, fields)] = msgspec.msgpack.Decoder(list[row])  # type: ignore[valid-type]
    return decoder
