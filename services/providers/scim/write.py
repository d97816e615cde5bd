"""Applying a batch of changes to a SCIM service.

The resources that updates, deletes, disables and enables name are found first, many keys
per request (lookup.py). Then the changes of one key apply in order and those of
different keys concurrently (`concurrency` requests in flight) — or, where the service
offers /Bulk and the connection allows it, in bulk requests, the n-th change of every key
in the n-th round (bulk.py).

- create: POST; a resource that exists already (409 `uniqueness`, a batch applied again)
  is found and given the create's values;
- update: PATCH with only what changed (edits.py), or a full PUT of the resource read
  whole where the service has no PATCH; with `If-Match` where it offers ETags (a 412 reads
  the resource again and retries);
- delete: DELETE (absent already is fine); disable and enable: `active` false or true.

Values naming resources created in this run (a group's new members: the identifier
`/Users?filter=userName eq "jdoe"` that planning gave them) become their ids first; one
that finds none (its create was refused) is not written, the rest is, and the change
says what it could not name.
One change's refusal is that change's outcome, in SCIM's words; a refused token or a
service that stops answering is the batch's error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from core.scim.paths import Path
from schemas.plan import Change
from schemas.values import Value

from ..base import Outcome
from .connection import Refused, Session, refused
from .discovery import Service
from .edits import Edit, Field, apply_edits, edits_of, new_resource, patch_operations
from .lookup import Key, Target, find, simple_filter
from .messages import PATCH_OP, ResourceType

OPS_PER_PATCH = 200
"""PATCH operations per request: a group's membership changes in parts."""
RETRIES = 3
"""Attempts at a change whose resource changed meanwhile (412)."""
_READ_ONLY = ("meta", "groups")


@dataclass
class Writer:
    session: Session
    service: Service
    kind: ResourceType
    fields: dict[str, Field]
    keys: list[Path]
    key_names: tuple[str, ...]
    typed: Callable[[Field, str], Any]
    concurrency: int = 4
    states: dict[Key, Target | None] = field(default_factory=dict)
    ids: dict[str, str | None] = field(default_factory=dict)
    """Identifiers of resources created in this run (`/Users?filter=…`) → their ids."""

    @property
    def patches(self) -> bool:
        return self.service.config.patch.supported

    @property
    def etags(self) -> bool:
        return self.service.config.etag.supported

    @property
    def unique_keys(self) -> bool:
        """Whether the service refuses a second resource with the same key (its schema
        says the key attribute's uniqueness is "server" or "global", as userName's): a
        create applied again is then answered 409 and found. Otherwise (a group's
        displayName) creates are looked up first, so that a batch applied again after an
        answer that never came (a gateway's 504 after the write) makes nothing twice."""
        for path in self.keys:
            found = self.service.attribute(self.kind, path)
            if path.where is not None or found is None or path.sub:
                return False
            if found.uniqueness.lower() not in ("server", "global"):
                return False
        return True

    def key(self, change: Change) -> Key | None:
        names = self.key_names or tuple(change.match)
        values = [_first(change.match.get(name)) for name in names]
        return tuple(v for v in values if v) if all(values) else None

    def attributes(self) -> list[str] | None:
        """What a lookup reads: the keys, the attributes filtered paths look into, meta
        (the ETag) — or everything where updates are full PUTs."""
        if not self.patches:
            return None
        tops = [p.top for p in self.keys]
        tops += [f.path.top for f in self.fields.values() if f.path.where is not None]
        return [*dict.fromkeys(tops), "meta"]

    # The whole batch.

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(changes)
        chains: dict[Key, list[int]] = {}
        for i, change in enumerate(changes):
            key = self.key(change)
            if key is None:
                outcomes[i] = Outcome(error="the change has no value for a key field")
            elif change.action == "move":
                outcomes[i] = Outcome(error=f"scim cannot move a {self.kind.name}: no containers")
            else:
                chains.setdefault(key, []).append(i)
        changes, unnamed = await self.resolve_references(changes)
        wanted = [
            k
            for k, at in chains.items()
            if changes[at[0]].action != "create" or not self.unique_keys
        ]
        await self.look_up(wanted)
        if self._bulk(changes):
            from .bulk import apply_in_bulk

            await apply_in_bulk(self, changes, chains, outcomes)
        else:
            gate = asyncio.Semaphore(max(1, self.concurrency))

            async def chain(key: Key, at: list[int]) -> None:
                async with gate:
                    for i in at:
                        outcomes[i] = await self.one(changes[i], key)

            await asyncio.gather(*(chain(key, at) for key, at in chains.items()))
        return [
            _missing(o or Outcome(error="not applied"), unnamed.get(i))
            for i, o in enumerate(outcomes)
        ]

    def _bulk(self, changes: list[Change]) -> bool:
        bulk = self.service.config.bulk
        return self.session.connection.bulk and bulk.supported and len(changes) > 1

    async def look_up(self, keys: list[Key], *, fresh: bool = False) -> None:
        keys = [k for k in keys if fresh or k not in self.states]
        if keys:
            found = await find(self.session, self.kind, self.keys, keys, self.attributes())
            self.states.update(found)

    async def target(self, key: Key, *, fresh: bool = False) -> Target | None:
        await self.look_up([key], fresh=fresh)
        return self.states.get(key)

    # One change.

    async def one(self, change: Change, key: Key) -> Outcome:
        try:
            edits = self.edits(change)
            if change.action == "create":
                return await self.create(change, key, edits)
            if change.action == "delete":
                return await self.delete(key)
            target = await self.target(key)
            if target is None:
                return Outcome(error=f"no {self.kind.name} with {self.shown(key)}")
            return await self.modify(key, target, edits)
        except ValueError as e:
            return Outcome(error=str(e))
        except Refused as e:
            return Outcome(error=e.text)

    def edits(self, change: Change) -> list[Edit]:
        if change.action in ("disable", "enable"):
            active = self.fields.get("active") or Field(Path.parse("active"), None, None)
            return [Edit("set", active.path, change.action == "enable")]
        return edits_of(change, self.fields_for(change), self.typed)

    def fields_for(self, change: Change) -> dict[str, Field]:
        """The declared fields, and any other the change names (a job copying every field)."""
        names = [*change.set, *change.clear, *change.add, *change.remove]
        missing = [n for n in names if n not in self.fields]
        for name in missing:
            path = Path.parse(name)
            attribute = self.service.attribute(self.kind, path)
            self.fields[name] = Field(path, attribute, self.service.sub_attribute(self.kind, path))
        return self.fields

    def shown(self, key: Key) -> str:
        names = [p.text for p in self.keys]
        return " and ".join(f"{n} {v!r}" for n, v in zip(names, key, strict=True))

    async def create(self, change: Change, key: Key, edits: list[Edit]) -> Outcome:
        target = self.states.get(key)
        if target is None:
            answer = await self.session.send(
                "POST", self.kind.endpoint, body=new_resource(self.kind, edits), writing=True
            )
            if answer.status_code in (200, 201):
                self.created(key, answer.content, answer.headers.get("etag"))
                return Outcome()
            if answer.status_code != 409:
                raise refused(answer)
            target = await self.target(key, fresh=True)
            if target is None:
                raise refused(answer)
        return await self.modify(key, target, edits)

    def created(self, key: Key, body: bytes, etag: str | None) -> None:
        resource = msgspec.json.decode(body) if body else {}
        if isinstance(resource, dict) and resource.get("id"):
            self.states[key] = Target.of(resource, True, etag)
        else:
            self.states.pop(key, None)  # known to exist, id unknown: looked up when needed

    async def delete(self, key: Key) -> Outcome:
        for _ in range(RETRIES):
            target = await self.target(key)
            if target is None:
                return Outcome()
            answer = await self.session.send(
                "DELETE", self.path(target), headers=self.if_match(target), writing=True
            )
            if answer.status_code in (200, 204, 404):
                self.states[key] = None
                return Outcome()
            if answer.status_code != 412:
                raise refused(answer)
            self.states.pop(key, None)
        return Outcome(error=f"{self.kind.name} kept changing while being deleted")

    async def modify(self, key: Key, target: Target, edits: list[Edit]) -> Outcome:
        for _ in range(RETRIES):
            status = await (self.patch(target, edits) if self.patches else self.put(target, edits))
            if status == 404:
                return Outcome(error=f"{self.kind.name} {target.id} is gone")
            if status != 412:
                self.states.pop(key, None)  # changed: read again if asked for again
                return Outcome()
            target_again = await self.target(key, fresh=True)
            if target_again is None:
                return Outcome(error=f"no {self.kind.name} with {self.shown(key)}")
            target = target_again
        return Outcome(error=f"{self.kind.name} kept changing while being updated (412)")

    async def patch(self, target: Target, edits: list[Edit]) -> int:
        ops = patch_operations(edits, target.resource)
        for start in range(0, len(ops), OPS_PER_PATCH):
            body = {"schemas": [PATCH_OP], "Operations": ops[start : start + OPS_PER_PATCH]}
            answer = await self.session.send(
                "PATCH", self.path(target), body=body, headers=self.if_match(target), writing=True
            )
            if answer.status_code in (404, 412):
                return answer.status_code
            if answer.status_code not in (200, 204):
                raise refused(answer)
            target.version = answer.headers.get("etag") or target.version
        return 200

    async def put(self, target: Target, edits: list[Edit]) -> int:
        if not target.whole:
            answer = await self.session.send("GET", self.path(target), writing=True)
            if answer.status_code != 200:
                return answer.status_code if answer.status_code == 404 else int(_raise(answer))
            target = Target.of(
                msgspec.json.decode(answer.content), True, answer.headers.get("etag")
            )
        body = {k: v for k, v in target.resource.items() if k not in _READ_ONLY}
        answer = await self.session.send(
            "PUT",
            self.path(target),
            body=apply_edits(body, edits),
            headers=self.if_match(target),
            writing=True,
        )
        if answer.status_code in (404, 412):
            return answer.status_code
        if answer.status_code not in (200, 204):
            raise refused(answer)
        return 200

    def path(self, target: Target) -> str:
        return f"{self.kind.endpoint.rstrip('/')}/{target.id}"

    def if_match(self, target: Target) -> dict[str, str]:
        return {"If-Match": target.version} if self.etags and target.version else {}

    # References to resources this run created.

    async def resolve_references(
        self, changes: list[Change]
    ) -> tuple[list[Change], dict[int, str]]:
        """Identifiers of new resources (`/Users?filter=userName eq "jdoe"`) in the values
        a batch writes become those resources' ids. One that finds none (its create was
        refused) is left out of what is written, the rest written all the same, and is
        the change's error: by change, what it could not name."""
        wanted = {
            v
            for c in changes
            for values in (c.set, c.add)
            for value in values.values()
            for v in (value if isinstance(value, list) else [value])
            if isinstance(v, str) and is_identifier(v) and v not in self.ids
        }
        by_type: dict[tuple[str, str], dict[str, str]] = {}
        for identifier in wanted:
            endpoint, _, text = identifier.partition("?filter=")
            simple = simple_filter(text)
            if simple is None:
                self.ids[identifier] = await self._one_id(endpoint, text)
            else:
                by_type.setdefault((endpoint, simple[0]), {})[simple[1]] = identifier
        for (endpoint, attribute), values in by_type.items():
            path = Path.parse(attribute)
            kind = next(
                (t for t in self.service.types.values() if t.endpoint == endpoint), None
            ) or ResourceType(name=endpoint.strip("/"), endpoint=endpoint, schema="")
            found = await find(self.session, kind, [path], [(v,) for v in values], ["id", path.top])
            for value, identifier in values.items():
                target = found.get((value,))
                self.ids[identifier] = target.id if target is not None else None
        written = [_with_ids(c, self.ids) for c in changes]
        unnamed = {i: text for i, (_, text) in enumerate(written) if text}
        return [c for c, _ in written], unnamed

    async def _one_id(self, endpoint: str, text: str) -> str | None:
        params: dict[str, str | int] = {"filter": text, "attributes": "id", "count": 2}
        raw = await self.session.get_json(endpoint, params)
        found = msgspec.json.decode(raw).get("Resources") or []
        return str(found[0]["id"]) if len(found) == 1 else None


def is_identifier(value: str) -> bool:
    return value.startswith("/") and "?filter=" in value


def _with_ids(change: Change, ids: dict[str, str | None]) -> tuple[Change, str]:
    """The change with the identifiers of new resources written as their ids, those that
    found none left out; and what says which were left out (empty when none)."""
    if not any(_named(v, ids) for values in (change.set, change.add) for v in values.values()):
        return change, ""
    unnamed: list[str] = []

    def swap(name: str, values: list[str]) -> list[str]:
        kept: list[str] = []
        for v in values:
            if v in ids and ids[v] is None:
                unnamed.append(f"{name}: no resource found by {v}")
            else:
                kept.append(ids.get(v) or v)
        return kept

    set_: dict[str, Value] = {}
    for name, value in change.set.items():
        if isinstance(value, list):
            set_[name] = swap(name, value)
        elif isinstance(value, str):
            found = swap(name, [value])
            if found:
                set_[name] = found[0]
        else:
            set_[name] = value
    add = {n: kept for n, vs in change.add.items() if (kept := swap(n, vs))}
    replaced = msgspec.structs.replace(change, set=set_, add=add)
    return replaced, "; ".join(unnamed)


def _missing(outcome: Outcome, unnamed: str | None) -> Outcome:
    """The outcome of a change some of whose references named nothing: their error."""
    if not unnamed or outcome.error is not None:
        return outcome
    return Outcome(error=unnamed)


def _named(value: Value, ids: dict[str, str | None]) -> bool:
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    return any(v in ids for v in items)


def _first(value: Value | None) -> str | None:
    if isinstance(value, list):
        return value[0] if value else None
    return value if isinstance(value, str) else None


def _raise(answer: Any) -> int:
    raise refused(answer)
