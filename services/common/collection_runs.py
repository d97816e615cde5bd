"""Where each collection run stands, in the bucket idsync_collection_runs, changed only by
compare-and-set (as run states are: services/common/runs.py). The workflow writes it;
`idsync collection show` reads it."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from core.collections import CollectionRun

from .jetstream import COLLECTION_RUNS_BUCKET, not_set_up
from .reading import bucket_keys

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(CollectionRun)
Change = Callable[[CollectionRun | None], CollectionRun | None]


class CollectionRuns:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            try:
                self._kv = await self.js.key_value(COLLECTION_RUNS_BUCKET)
            except nats.js.errors.BucketNotFoundError:
                raise not_set_up(f"bucket {COLLECTION_RUNS_BUCKET}") from None
        return self._kv

    async def _read(self, run_id: str) -> tuple[CollectionRun | None, int | None]:
        try:
            entry = await (await self._bucket()).get(run_id)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None, None
        if entry.value is None:
            return None, entry.revision
        return _decoder.decode(entry.value), entry.revision

    async def get(self, run_id: str) -> CollectionRun | None:
        return (await self._read(run_id))[0]

    async def change(
        self, run_id: str, change: Change
    ) -> tuple[CollectionRun | None, CollectionRun | None]:
        """Apply `change` until no other writer got there first: (before, after); after is
        None when `change` left it alone."""
        kv = await self._bucket()
        while True:
            before, revision = await self._read(run_id)
            copy = _decoder.decode(_encoder.encode(before)) if before is not None else None
            after = change(copy)
            if after is None:
                return before, None
            data = _encoder.encode(after)
            try:
                if revision is None:
                    await kv.create(run_id, data)
                else:
                    await kv.update(run_id, data, last=revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue
            return before, after

    async def of(self, collection_id: str) -> list[CollectionRun]:
        """The runs of one collection, oldest first."""
        found = [await self.get(key) for key in await bucket_keys(self.js, COLLECTION_RUNS_BUCKET)]
        mine = [run for run in found if run is not None and run.collection_id == collection_id]
        return sorted(mine, key=lambda run: run.run_id)
