"""Jobs, connections and run states, kept in JetStream key-value buckets."""

from __future__ import annotations

from typing import TypeVar

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from core.errors import NotFound
from schemas.collections import Collection
from schemas.connections import Connection
from schemas.jobs import Job
from schemas.templates import Template

from .jetstream import (
    COLLECTIONS_BUCKET,
    CONNECTIONS_BUCKET,
    JOBS_BUCKET,
    TEMPLATES_BUCKET,
    not_set_up,
)
from .reading import bucket_keys

T = TypeVar("T")
_encoder = msgspec.json.Encoder()


class Store:
    """Typed access to the jobs and connections buckets (the services create them: see
    ensure_infrastructure). Run states are kept by services/common/runs.py."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._buckets: dict[str, KeyValue] = {}

    async def _bucket(self, name: str) -> KeyValue:
        if name not in self._buckets:
            try:
                self._buckets[name] = await self.js.key_value(name)
            except nats.js.errors.BucketNotFoundError:
                raise not_set_up(f"bucket {name}") from None
        return self._buckets[name]

    async def _get(self, bucket: str, key: str, kind: type[T]) -> T | None:
        """The entry; None where there is none, nor for a key that cannot be one (a path,
        an id pasted with a space after it)."""
        try:
            entry = await (await self._bucket(bucket)).get(key)
        except (
            nats.js.errors.KeyNotFoundError,
            nats.js.errors.KeyDeletedError,
            nats.js.errors.InvalidKeyError,
        ):
            return None
        if entry.value is None:
            return None
        return msgspec.json.decode(entry.value, type=kind)

    async def _all(self, bucket: str, kind: type[T]) -> list[T]:
        # Not kv.keys(): its watcher is a consumer, and people may create none.
        found = [await self._get(bucket, key, kind) for key in await bucket_keys(self.js, bucket)]
        return [item for item in found if item is not None]

    async def _delete(self, bucket: str, key: str) -> bool:
        if await self._get(bucket, key, msgspec.Raw) is None:
            return False
        await (await self._bucket(bucket)).delete(key)
        return True

    # Jobs
    async def put_job(self, job: Job) -> None:
        await (await self._bucket(JOBS_BUCKET)).put(job.id, _encoder.encode(job))

    async def find_job(self, job_id: str) -> Job | None:
        return await self._get(JOBS_BUCKET, job_id, Job)

    async def job(self, job_id: str) -> Job:
        job = await self.find_job(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}: `idsync job list` shows the jobs there are")
        return job

    async def jobs(self) -> list[Job]:
        return await self._all(JOBS_BUCKET, Job)

    async def delete_job(self, job_id: str) -> bool:
        return await self._delete(JOBS_BUCKET, job_id)

    # Connections
    async def put_connection(self, connection: Connection) -> None:
        kv = await self._bucket(CONNECTIONS_BUCKET)
        await kv.put(connection.id, _encoder.encode(connection))

    async def connection(self, connection_id: str) -> Connection:
        found: Connection | None = await self._get(
            CONNECTIONS_BUCKET,
            connection_id,
            Connection,  # type: ignore[arg-type]
        )
        if found is None:
            raise NotFound(
                f"no connection {connection_id!r}: `idsync connection list` shows them, "
                "`idsync connection apply FILE` adds them"
            )
        return found

    async def connections(self) -> list[Connection]:
        found: list[Connection] = await self._all(
            CONNECTIONS_BUCKET,
            Connection,  # type: ignore[arg-type]
        )
        return found

    # Collections
    async def put_collection(self, collection: Collection) -> None:
        await (await self._bucket(COLLECTIONS_BUCKET)).put(
            collection.id, _encoder.encode(collection)
        )

    async def find_collection(self, collection_id: str) -> Collection | None:
        return await self._get(COLLECTIONS_BUCKET, collection_id, Collection)

    async def collection(self, collection_id: str) -> Collection:
        found = await self.find_collection(collection_id)
        if found is None:
            raise NotFound(f"no collection {collection_id!r}: `idsync collection list` shows them")
        return found

    async def collections(self) -> list[Collection]:
        return await self._all(COLLECTIONS_BUCKET, Collection)

    async def delete_collection(self, collection_id: str) -> bool:
        return await self._delete(COLLECTIONS_BUCKET, collection_id)

    # Templates people saved (the shipped ones are not stored: core/ad_templates.py)
    async def put_template(self, template: Template) -> None:
        await (await self._bucket(TEMPLATES_BUCKET)).put(template.id, _encoder.encode(template))

    async def find_template(self, template_id: str) -> Template | None:
        return await self._get(TEMPLATES_BUCKET, template_id, Template)

    async def templates(self) -> list[Template]:
        return await self._all(TEMPLATES_BUCKET, Template)

    async def delete_template(self, template_id: str) -> bool:
        return await self._delete(TEMPLATES_BUCKET, template_id)
