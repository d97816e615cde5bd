"""LDAP v3 directories: one entry per object below a base DN.

Scope: the endpoint's `container` (base DN), the whole subtree or one level
(`include_subcontainers`), filtered by `query` (default: every object class in
`object_classes`, else every entry). Reads are paged searches streamed page by page
(read.py); a search the server cuts short (a size or time limit) is an error, never a
short read that would make a run delete what it did not see. Writes go over `pool_size`
connections, each pipelined (write.py); the entry of a change is found by its key
through the key→DN map the read built, or one search for many keys when it is not there.

ldap3 opens and binds connections (connection.py: failover, TLS); the searches and
writes themselves speak BER on its sockets (wire.py) for speed. All of it is blocking I/O, run in
worker threads: the event loop never waits on the directory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from core.errors import Transient, Unreachable
from schemas.plan import Change
from schemas.values import Binary, Value

from ..base import Outcome
from . import matching
from .classes import DEFAULT_CLASSES
from .connection import connect
from .dn import compile_filter, key_filter, split_rdn
from .read import LdapReading, key_of
from .steps import Step, Target, naming_value, new_dn, new_rdn
from .values import DN_FIELD
from .wire import Disconnected, Wire
from .write import Pipeline

LOOKUP_CHUNK = 200  # keys per search when changes name entries the read did not see
RECONNECTS = 2  # fresh connections tried for one batch before it counts as Transient


class LdapProvider(LdapReading):
    default_classes = DEFAULT_CLASSES
    extra_attributes: tuple[str, ...] = ()
    """Attributes every key lookup asks for besides the keys (what a subclass acts on)."""
    lookup_creates = False
    _parsed: tuple[str, object] | None = None
    """The endpoint's query and its parse tree (`refused_create`)."""
    """Whether creates look for their key first: needed where the DN is not made of the
    key, so that an existing entry with the key is found and another one's name is not."""

    # Writing.

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        if not changes:
            return []
        steps = [self._step(i, change) for i, change in enumerate(changes)]
        outcomes: dict[int, Outcome] = {}
        for step in steps:
            if not step.key:
                outcomes[step.index] = Outcome(error="the change has no value for a key field")
        await self._lookup([s for s in steps if s.key and s.key not in self._dns])
        for step in steps:
            if step.key in self._dns and self._dns[step.key] is None:
                text = f"several entries have the key {step.change.key!r}; none is changed"
                outcomes[step.index] = Outcome(error=text)
        await self._ensure_pool()
        shares: list[list[Step]] = [[] for _ in self._sessions]
        for step in steps:
            if step.index not in outcomes:
                shares[hash(step.key) % len(shares)].append(step)
        done = await asyncio.gather(
            *(asyncio.to_thread(self._apply_share, n, share) for n, share in enumerate(shares))
        )
        for part in done:
            outcomes.update(part)
        return [outcomes[i] for i in range(len(changes))]

    def _step(self, index: int, change: Change) -> Step:
        keys = self._keys or tuple(change.match)
        key = key_of(change.match, keys) or ()
        classes = self._classes or self.default_classes.get(change.object_type, ())
        # A create, or a move back (a restore), with no container of its own goes where new
        # entries go: the job's container, else the endpoint's base.
        default = self._container if change.action in ("create", "move") else None
        container = change.container or default
        return Step(index, change, key, Target(container, classes, self._rdn))

    def identifier(self, change: Change) -> str | None:
        """The DN a create gives its entry: what references to it resolve to."""
        return new_dn(change, self._step(0, change).target)

    @property
    def create_refusal(self) -> Callable[[Change], str | None] | None:
        """What the planner asks of each create (`refused_create`), where the endpoint
        names a query: the classes' own filter finds every entry a create of them makes
        (Active Directory's a class of its own sets), so a first run of many creates is
        planned at once, none asked."""
        return self.refused_create if self._queried else None

    def refused_create(self, change: Change) -> str | None:
        """Why a create is refused before it is sent: the values it writes put its entry out
        of the endpoint's query (which then reads it never again: each run would create
        it anew, none update nor delete it). None where they match it, or do not decide
        (matching.py: the server adds values of its own)."""
        step = self._step(0, change)
        change, target = step.change, step.target
        values: dict[str, Value] = {**change.match, **change.set}
        name = target.rdn_attribute
        if name and (naming := naming_value(change, name)) is not None:
            values = {name: naming, **values}
        classes = values.pop("objectClass", None) or list(target.object_classes)
        sent = [classes] if isinstance(classes, str) else classes
        if isinstance(sent, Binary):
            sent = list(target.object_classes)
        texts: dict[str, list[str]] = {}
        for field, value in values.items():
            if field.startswith("@") or field.lower() == DN_FIELD or isinstance(value, Binary):
                continue
            items = [value] if isinstance(value, str) else value
            texts[field] = [item for item in items if item]
        if matching.decides(self._query_tree(), self._written(texts, sent)) is not False:
            return None
        named = matching.attributes(self._query_tree())
        shown = "; ".join(
            f"{field}: {', '.join(map(repr, texts[field])) or 'none'}"
            for field in texts
            if field.lower() in named
        )
        dn = new_dn(change, target) or change.key
        return (
            f"create {dn}: the values written ({shown or 'none of the attributes it asks for'}"
            f"; objectClass: {', '.join(map(str, sent))}) are out of the destination's query "
            f"{self._query}, which would never read the entry again (each run would create "
            "it anew): make the job write what the query asks for, or widen the query"
        )

    def _query_tree(self) -> object:
        if self._parsed is None or self._parsed[0] != self._query:
            self._parsed = (self._query, matching.parsed(self._query))
        return self._parsed[1]

    def _written(self, texts: dict[str, list[str]], classes: list[str]) -> matching.Written:
        """The values a create writes, as the server's schema tells of them."""
        compared = self._compared
        if compared is None:  # not opened: nothing known of the schema
            return matching.Written(texts, classes, rule=_unknown, absent=_never)
        return matching.Written(
            texts, compared.classes(classes), rule=compared.rule, absent=compared.absent
        )

    def renamed(self, change: Change, dn: str) -> str | None:
        """The DN the entry named `dn` has once `change` is applied: a move keeps its RDN
        under the new container; an update with a new value of the naming attribute
        renames it where it is (write.py does both so); None: it keeps `dn`."""
        naming, parent = split_rdn(dn)
        if change.action == "move":
            container = self._step(0, change).target.container
            return f"{naming},{container}" if container else None
        if change.action != "update":
            return None
        named = new_rdn(dn, change)
        return None if named is None else f"{named},{parent}"

    def object_id(self, change: Change) -> str | None:
        """The DN of the change's entry, for the history: as the read found it (the
        key→DN map), or the one a create gives it; None when neither is known."""
        step = self._step(0, change)
        found = self._dns.get(step.key) if step.key else None
        if found is None and change.action == "create":
            return new_dn(change, step.target)
        return found

    async def _ensure_pool(self) -> None:
        while len(self._sessions) < self._connection.pool_size:
            self._sessions.append(await asyncio.to_thread(connect, self._connection))

    def _apply_share(self, n: int, steps: list[Step]) -> dict[int, Outcome]:
        """One connection's steps; after a broken connection, the unconfirmed ones again on
        a fresh connection (safe: every write is idempotent)."""
        pipeline = self._pipeline(self._sessions[n].wire)
        for attempt in range(RECONNECTS + 1):
            try:
                pipeline.run(steps)
                return pipeline.outcomes
            except Disconnected as e:
                url = self._sessions[n].url
                self._sessions[n].close()
                if attempt == RECONNECTS:
                    raise Transient(
                        f"ldap: {url}: {e} while writing; the batch will be retried"
                    ) from e
                try:
                    self._sessions[n] = connect(self._connection)
                except Unreachable as again:
                    raise Transient(f"ldap: {e} while writing, then {again}") from again
                steps = [s for s in steps if s.index not in pipeline.outcomes]
                pipeline.wire = self._sessions[n].wire
        raise AssertionError("unreachable")

    def _pipeline(self, wire: Wire) -> Pipeline:
        return Pipeline(wire, self._dns, (self._query, self._filter))

    async def _lookup(self, steps: list[Step]) -> None:
        """Find the DNs of entries the read did not see, many keys per search."""
        looked = [s for s in steps if self.lookup_creates or s.change.action != "create"]
        wanted = list(dict.fromkeys(s.key for s in looked))
        if not wanted:
            return
        keys = self._keys or tuple(steps[0].change.match)
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            parts = "".join(key_filter(keys, dict(zip(keys, k, strict=True))) for k in chunk)
            text = f"(&{self._query}(|{parts}))"
            filter_ber = compile_filter(text, "ldap: the key filter")
            cookie: bytes | None = b""
            while cookie is not None:
                cookie = await asyncio.to_thread(self._lookup_page, keys, filter_ber, cookie)

    def _lookup_page(self, keys: tuple[str, ...], filter_ber: bytes, cookie: bytes) -> bytes | None:
        """One page of a key lookup: the key→DN map learns what it finds."""
        assert self._values is not None
        names = [name.encode() for name in dict.fromkeys([*keys, *self.extra_attributes])]
        bodies, after = self._search(filter_ber, names, cookie)
        for record, dn in zip(*self._entries(bodies), strict=True):
            if (key := key_of(record, keys)) is not None:
                self._dns[key] = None if key in self._dns else dn.decode("utf-8", "replace")
        return after or None


def _unknown(_: str) -> str | None:
    return None


def _never(_: str) -> bool:
    return False
