"""Records other systems push to idsync (the SCIM endpoint), kept until runs read them.

The bucket `idsync_pushed` holds, per `scim-inbound` connection and per record, the
latest record pushed: key `<connection>.<base64url of the record's own key>`, value the
record (msgpack) with who pushed it and when. The SCIM endpoint writes them
(services/scim_endpoint/); the `scim-inbound` provider reads them as a source
(services/providers/scim_inbound/), by batched direct gets — which people may make too,
so a preview reads what the run will.

Providers are given no NATS connection, so the process that plans and applies runs (a
runner, or the command line previewing a job) says once which connection reads the
bucket: `bind`.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Sequence

import msgspec
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError

from core.errors import BadInput
from schemas.values import Record

from .jetstream import PUSHED_BUCKET
from .reading import read_stream

_connection: Callable[[], Client] | None = None
_PUTS_AT_ONCE = 64


class Pushed(msgspec.Struct, frozen=True, kw_only=True):
    """One record as it was pushed."""

    record: Record
    by: str
    """The system user who pushed it."""
    at: str
    """When (ISO 8601, UTC)."""


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Pushed).decode


def bind(connection: Callable[[], Client]) -> None:
    """Say which NATS connection reads pushed records in this process."""
    global _connection
    _connection = connection


def bound() -> Client:
    if _connection is None:
        raise BadInput(
            "records pushed to idsync are read by the services (a runner) or a command "
            "connected to them; this process has no connection to read them with"
        )
    return _connection()


def entry_key(connection: str, key: str) -> str:
    """The bucket key of a record: its connection, then its own key, base64url (KV keys
    take only letters, digits and -_=.)."""
    encoded = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
    return f"{connection}.{encoded}"


async def put(js: JetStreamContext, connection: str, records: Sequence[tuple[str, Pushed]]) -> None:
    """Store the records (their own key, the record): the latest push of a key wins."""
    kv = await js.key_value(PUSHED_BUCKET)
    gate = asyncio.Semaphore(_PUTS_AT_ONCE)

    async def one(key: str, pushed: Pushed) -> None:
        async with gate:
            await kv.put(entry_key(connection, key), _encode(pushed))

    await asyncio.gather(*(one(key, pushed) for key, pushed in records))


OWN_KEYS = ("externalId", "userName")
"""The fields a record is stored under: its externalId, else its userName."""


async def read_keys(
    nc: Client, connection: str, field: str, values: Sequence[str], batch_size: int
) -> AsyncIterator[list[Record]]:
    """The latest records whose `field` (one of OWN_KEYS) holds one of `values`, each by a
    direct get of its own entry. A record stored under its other own key (a userName asked
    for, an externalId pushed besides) is not found: the caller reads whole then."""
    kv = await nc.jetstream().key_value(PUSHED_BUCKET)
    found: list[Record] = []
    for value in values:
        try:
            entry = await kv.get(entry_key(connection, value))
        except KeyNotFoundError:  # never pushed, or deleted
            continue
        if not entry.value:
            continue
        record = _decode(entry.value).record
        if str(record.get(field, "")) == value:
            found.append(record)
        if len(found) >= batch_size:
            yield found
            found = []
    if found:
        yield found


async def read(nc: Client, connection: str, batch_size: int) -> AsyncIterator[list[Record]]:
    """The latest record of every key pushed to the connection, in batches."""
    latest: dict[str, Record | None] = {}
    subject = f"$KV.{PUSHED_BUCKET}.{connection}.>"
    async for msg in read_stream(nc, f"KV_{PUSHED_BUCKET}", subject):
        headers = msg.headers or {}
        key = headers.get("Nats-Subject", "")  # a direct get answers on an inbox
        if headers.get("KV-Operation") in ("DEL", "PURGE"):
            latest[key] = None
        elif msg.data:
            latest[key] = _decode(msg.data).record
    records = [record for record in latest.values() if record is not None]
    for start in range(0, len(records), batch_size):
        yield records[start : start + batch_size]
