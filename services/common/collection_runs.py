"""Where each collection run stands, in the bucket idsync_collection_runs, changed only by
compare-and-set (as run states are: services/common/runs.py). The workflow writes it;
`idsync collection show` reads it."""

from __future__ import annotations

from nats.js import JetStreamContext

from core.collections import CollectionRun

from .jetstream import COLLECTION_RUNS_BUCKET
from .state_bucket import StateBucket


class CollectionRuns(StateBucket[CollectionRun]):
    """Each collection run, by its id."""

    def __init__(self, js: JetStreamContext) -> None:
        super().__init__(js, COLLECTION_RUNS_BUCKET, CollectionRun)

    async def of(self, collection_id: str) -> list[CollectionRun]:
        """The runs of one collection, oldest first."""
        mine = [run for run in await self.all() if run.collection_id == collection_id]
        return sorted(mine, key=lambda run: run.run_id)
