"""Roles in the bucket `idsync_roles`: one entry per role (its id), a definition and
who holds it (schemas/roles.py `RoleEntry`). The workflow alone writes it; everyone
reads it (`idsync role list|show`)."""

from __future__ import annotations

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from schemas.roles import RoleEntry, entry_decoder

from .jetstream import ROLES_BUCKET, not_set_up
from .reading import bucket_keys


async def _bucket(js: JetStreamContext) -> KeyValue:
    try:
        return await js.key_value(ROLES_BUCKET)
    except nats.js.errors.BucketNotFoundError:
        raise not_set_up(f"bucket {ROLES_BUCKET}") from None


async def entries(js: JetStreamContext) -> dict[str, RoleEntry]:
    bucket = await _bucket(js)
    found: dict[str, RoleEntry] = {}
    for key in await bucket_keys(js, ROLES_BUCKET):
        try:
            entry = await bucket.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            continue
        if entry.value:
            found[key] = entry_decoder.decode(entry.value)
    return found


async def put(js: JetStreamContext, role_id: str, entry: RoleEntry) -> None:
    await (await _bucket(js)).put(role_id, msgspec.json.encode(entry))


async def delete(js: JetStreamContext, role_id: str) -> None:
    await (await _bucket(js)).delete(role_id)
