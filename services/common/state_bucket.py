"""Entries of a KV bucket that several services change: read with their revision, written
by compare-and-set, so two writers never overwrite each other (run states, collection
runs, schedules' latest fires)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from .jetstream import not_set_up
from .reading import bucket_keys

T = TypeVar("T", bound=msgspec.Struct)
_encoder = msgspec.json.Encoder()


class StateBucket(Generic[T]):
    """One bucket's entries, each a `kind` as JSON."""

    def __init__(self, js: JetStreamContext, bucket: str, kind: type[T]) -> None:
        self.js = js
        self.name = bucket
        self._decoder = msgspec.json.Decoder(kind)
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            try:
                self._kv = await self.js.key_value(self.name)
            except nats.js.errors.BucketNotFoundError:
                raise not_set_up(f"bucket {self.name}") from None
        return self._kv

    async def read(self, key: str) -> tuple[T | None, int | None]:
        """The entry and its revision (None, None: there is none — nor for a key that
        cannot be one, such as a run id pasted with a space after it)."""
        try:
            entry = await (await self._bucket()).get(key)
        except (
            nats.js.errors.KeyNotFoundError,
            nats.js.errors.KeyDeletedError,
            nats.js.errors.InvalidKeyError,
        ):
            return None, None
        if entry.value is None:
            return None, entry.revision
        return self._decoder.decode(entry.value), entry.revision

    async def get(self, key: str) -> T | None:
        return (await self.read(key))[0]

    async def write(self, key: str, value: T, revision: int | None) -> int | None:
        """Store `value` if the entry is still at `revision` (None: absent): its new
        revision, or None when another writer changed it first."""
        try:
            return await self._put(key, value, revision)
        except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.BadRequestError):
            return None

    async def _put(self, key: str, value: T, revision: int | None) -> int:
        kv = await self._bucket()
        data = _encoder.encode(value)
        if revision is None:
            return int(await kv.create(key, data))
        return int(await kv.update(key, data, last=revision))

    async def change(
        self, key: str, change: Callable[[T | None], T | None]
    ) -> tuple[T | None, T | None]:
        """Apply `change` to its own copy of the entry until no other writer got there
        first: (before, after); after is None when `change` left it alone."""
        while True:
            before, revision = await self.read(key)
            copy = self._decoder.decode(_encoder.encode(before)) if before is not None else None
            after = change(copy)
            if after is None:
                return before, None
            try:
                await self._put(key, after, revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # another writer changed it meanwhile: read it again
            return before, after

    async def all(self) -> list[T]:
        found = [await self.get(key) for key in await bucket_keys(self.js, self.name)]
        return [value for value in found if value is not None]
