"""A batch through /Bulk (RFC 7644 §3.7): round n holds the n-th change of every key, so
one key's changes still apply in order; each round goes in requests of at most the
service's `maxOperations` and `maxPayloadSize`, with each resource's ETag as the
operation's `version` where the service offers ETags.

What a bulk request cannot settle is done one change at a time after its round (writer's
`one`): a create whose resource exists (409), a resource that changed meanwhile (412), a
change whose resource is not known yet, a full PUT where there is no PATCH, and a PATCH of
more operations than one request carries.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import msgspec

from schemas.plan import Change

from ..base import Outcome
from .connection import refused
from .edits import new_resource, patch_operations
from .lookup import Key, Target
from .messages import BULK_REQUEST, PATCH_OP, BulkResponse, Error, words

if TYPE_CHECKING:
    from .write import Writer

PAYLOAD_SHARE = 0.9
"""Of the service's maxPayloadSize a request fills at most (the envelope takes the rest)."""
_encode = msgspec.json.Encoder().encode


async def apply_in_bulk(
    writer: Writer, changes: list[Change], chains: dict[Key, list[int]], outcomes: list[Any]
) -> None:
    rounds: list[list[tuple[int, Key]]] = []
    for key, at in chains.items():
        for n, i in enumerate(at):
            if n == len(rounds):
                rounds.append([])
            rounds[n].append((i, key))
    for round_ in rounds:
        later: list[tuple[int, Key]] = []
        operations: list[tuple[int, Key, dict[str, Any]]] = []
        for i, key in round_:
            planned = _operation(writer, changes[i], key, i)
            if isinstance(planned, Outcome):
                outcomes[i] = planned
            elif planned is None:
                later.append((i, key))
            else:
                operations.append((i, key, planned))
        for part in _parts(writer, operations):
            later += await _send(writer, part, outcomes)
        await _one_by_one(writer, changes, later, outcomes)


async def _one_by_one(
    writer: Writer, changes: list[Change], later: list[tuple[int, Key]], outcomes: list[Any]
) -> None:
    gate = asyncio.Semaphore(max(1, writer.concurrency))

    async def single(i: int, key: Key) -> None:
        async with gate:
            outcomes[i] = await writer.one(changes[i], key)

    await asyncio.gather(*(single(i, key) for i, key in later))


def _operation(writer: Writer, change: Change, key: Key, i: int) -> dict[str, Any] | Outcome | None:
    """The bulk operation of a change; an outcome when there is nothing to send; None
    when it is to be done on its own."""
    try:
        edits = writer.edits(change)
    except ValueError as e:
        return Outcome(error=str(e))
    known = key in writer.states
    target = writer.states.get(key)
    endpoint = writer.kind.endpoint
    if change.action == "create":
        if known and target is not None:
            return None
        data = new_resource(writer.kind, edits)
        return {"method": "POST", "path": endpoint, "bulkId": f"c{i}", "data": data}
    if not known:
        return None
    if target is None:
        if change.action == "delete":
            return Outcome()
        return Outcome(error=f"no {writer.kind.name} with {writer.shown(key)}")
    version = {"version": target.version} if writer.etags and target.version else {}
    path = writer.path(target)
    if change.action == "delete":
        return {"method": "DELETE", "path": path, **version}
    if not writer.patches:
        return None
    ops = patch_operations(edits, target.resource)
    if not ops:
        return Outcome()
    if len(ops) > 200:
        return None
    data = {"schemas": [PATCH_OP], "Operations": ops}
    return {"method": "PATCH", "path": path, "data": data, **version}


def _parts(
    writer: Writer, operations: list[tuple[int, Key, dict[str, Any]]]
) -> list[list[tuple[int, Key, dict[str, Any]]]]:
    bulk = writer.service.config.bulk
    most = bulk.maxOperations or 100
    size = int(bulk.maxPayloadSize * PAYLOAD_SHARE) if bulk.maxPayloadSize else 1 << 20
    parts: list[list[tuple[int, Key, dict[str, Any]]]] = [[]]
    used = 0
    for operation in operations:
        weight = len(_encode(operation[2])) + 1
        if parts[-1] and (len(parts[-1]) >= most or used + weight > size):
            parts.append([])
            used = 0
        parts[-1].append(operation)
        used += weight
    return [p for p in parts if p]


async def _send(
    writer: Writer, part: list[tuple[int, Key, dict[str, Any]]], outcomes: list[Any]
) -> list[tuple[int, Key]]:
    """One bulk request; the changes to do on their own afterwards."""
    body = {"schemas": [BULK_REQUEST], "Operations": [op for _, _, op in part]}
    answer = await writer.session.send("POST", "/Bulk", body=body, writing=True)
    if answer.status_code != 200:
        if answer.status_code == 413:
            return [(i, key) for i, key, _ in part]  # too large after all: one by one
        text = refused(answer).text
        for i, _, _ in part:
            outcomes[i] = Outcome(error=text)
        return []
    results = msgspec.json.decode(answer.content, type=BulkResponse).operations
    by_bulk_id = {r.bulkId: r for r in results if r.bulkId}
    later: list[tuple[int, Key]] = []
    for n, (i, key, op) in enumerate(part):
        bulk_id = op.get("bulkId")
        result = by_bulk_id.get(bulk_id) if isinstance(bulk_id, str) else None
        if result is None:
            result = results[n] if n < len(results) else None
        if result is None:
            later.append((i, key))
            continue
        status = int(str(result.status or 0)[:3] or 0)
        if 200 <= status < 300:
            outcomes[i] = Outcome()
            _learn(writer, key, op, result.location, result.version)
        elif status in (409, 412) or (status == 404 and op["method"] == "DELETE"):
            writer.states.pop(key, None)
            if status == 404:
                writer.states[key] = None
                outcomes[i] = Outcome()
            else:
                later.append((i, key))
        else:
            try:
                said = msgspec.convert(result.response or {}, Error)
            except msgspec.ValidationError:
                said = Error()
            outcomes[i] = Outcome(error=words(status, said))
    return later


def _learn(
    writer: Writer, key: Key, op: dict[str, Any], location: str | None, version: str | None
) -> None:
    if op["method"] == "DELETE":
        writer.states[key] = None
    elif op["method"] == "POST" and location:
        resource_id = location.rstrip("/").rsplit("/", 1)[-1]
        writer.states[key] = Target(resource_id, version, {"id": resource_id, **op["data"]}, False)
    else:
        writer.states.pop(key, None)
