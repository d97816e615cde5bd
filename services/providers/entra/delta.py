"""Incremental reads by delta query (learn.microsoft.com/graph/delta-query-overview): the
watermark is the delta link Graph gave at the end of the last round.

A full run (no watermark) asks for the latest delta link first (`$deltatoken=latest`:
what changes while it reads comes again next time), then reads as `read` does. An
incremental run follows the link: Graph names what changed — a changed object by its id
and some of its properties, so each is read again whole, in the side's $filter, 15 ids
a request — and what was removed, whose last state is read from deleted items (with
`deletedDateTime`, which a job's `leavers` can test); one deleted for good is gone
without a trace and left out. A link Graph no longer knows (410 Gone, or
syncStateNotFound: links live 7 days) or one made for other properties or another scope
means a full read, said in the log and to the runner (`fell_back`, providers/base.py
`FallsBack`): once every object was read, the run becomes a full run.

The watermark is "<digest of what is read> <delta link>"."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import structlog

from core.errors import BadInput
from schemas.values import Record

from .errors import why
from .graph import Call, Graph, GraphRefused, Program, Step, url
from .lookup import unmangled
from .read import Reader
from .values import COLLECTION, MANAGER, MEMBERS, USER, record_of

log = structlog.get_logger("idsync.entra")
EXPIRED_CODES = frozenset({"syncstatenotfound", "syncstateinvalid", "resyncrequired"})


class Expired(Exception):
    """The delta link cannot be followed: read everything."""


class Delta:
    def __init__(self, graph: Graph, reader: Reader, kind: str, query: str | None) -> None:
        self.graph, self.reader, self.kind, self.query = graph, reader, kind, query
        self.mark: str | None = None
        self.fell_back: str | None = None
        """Once read to the end: why every object was read instead of the changes."""
        tracked = [
            *reader.select,
            *([MANAGER] if reader.manager else []),
            *([MEMBERS] if reader.members else []),
        ]
        self.tracked = tracked
        seen = "|".join([kind, ",".join(sorted(p.lower() for p in tracked)), query or ""])
        self.digest = hashlib.sha256(seen.encode()).hexdigest()[:16]

    async def read(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        if field is not None:
            raise BadInput(
                "entra: incremental runs follow Graph's delta links; leave changes.field out "
                f"instead of {field!r}"
            )
        link = None
        why: str | None = None
        if since:
            digest, _, rest = since.partition(" ")
            if digest == self.digest and rest:
                link = rest
            else:
                why = "the last delta link was made for other properties or another scope"
                log.warning(f"entra: {why}: reading everything")
        if link is not None:
            try:
                changed, removed, latest = await self._follow(link)
            except Expired:
                why = "the delta link had expired (Graph keeps them 7 days) or was refused"
                log.warning(f"entra: {why}: this run reads every object, as a full run")
            else:
                records = await self.reader.by_ids(changed) if changed else []
                records += await self._deleted(removed)
                for start in range(0, len(records), batch_size):
                    yield records[start : start + batch_size]
                self.mark = f"{self.digest} {latest}"
                return
        latest = await self._latest()
        async for batch in self.reader.records(batch_size):
            yield batch
        self.mark = f"{self.digest} {latest}"
        self.fell_back = why  # only now: a read that failed part-way said nothing

    def _start(self, **extra: str) -> str:
        return url(
            f"/{COLLECTION[self.kind]}/delta", **{"$select": ",".join(self.tracked), **extra}
        )

    async def _latest(self) -> str:
        """A delta link from now on, without reading any object."""
        path: str | None = self._start(**{"$deltatoken": "latest"})
        while path is not None:
            page = await self.graph.get(path)
            if page.get("@odata.deltaLink"):
                return str(page["@odata.deltaLink"])
            found = page.get("@odata.nextLink")
            path = str(found) if found else None
        raise BadInput("entra: Graph gave no delta link")

    async def _follow(self, link: str) -> tuple[list[str], list[str], str]:
        """(ids changed, ids removed, the next delta link)."""
        changed: dict[str, None] = {}
        removed: dict[str, None] = {}
        path: str | None = link
        while path is not None:
            answer = await self.graph.send("GET", path)
            if answer.status == 410 or answer.code.lower() in EXPIRED_CODES:
                raise Expired
            if not answer.ok:
                raise GraphRefused(answer, path)
            page: dict[str, Any] = answer.body or {}
            for item in page.get("value") or []:
                obj_id = str(item.get("id"))
                if "@removed" in item:
                    removed[obj_id] = None
                    changed.pop(obj_id, None)
                else:
                    changed[obj_id] = None
                    removed.pop(obj_id, None)
            if page.get("@odata.deltaLink"):
                return list(changed), list(removed), str(page["@odata.deltaLink"])
            found = page.get("@odata.nextLink")
            path = str(found) if found else None
        raise BadInput("entra: Graph's delta pages ended without a delta link")

    async def _deleted(self, ids: list[str]) -> list[Record]:
        """The last state of removed objects that deleted items still hold."""
        found: list[dict[str, Any]] = []
        failures: list[str] = []
        select = ",".join(dict.fromkeys([*self.reader.select, "deletedDateTime"]))
        programs: list[Program] = [self._one(i, select, found, failures) for i in ids]
        await self.graph.execute(programs)
        if failures:  # not known to be gone for good: leaving it out would lose the removal
            raise BadInput(f"entra: {failures[0]}")
        fields = [*self.reader.fields]
        out: list[Record] = []
        for obj in found:
            shown = unmangled(obj) if self.kind == USER else obj
            out.append(record_of(shown, fields))
        gone = len(ids) - len(found)
        if gone:
            log.info(
                "entra: objects deleted for good are not in deleted items: left out",
                count=gone,
                kind=self.kind,
            )
        return out

    def _one(
        self, obj_id: str, select: str, into: list[dict[str, Any]], failures: list[str]
    ) -> Program:
        """The last state of one removed object; a 404 (deleted for good) leaves it out,
        any other refusal is a failure of the read."""
        answers = yield Step(
            [Call("GET", url(f"/directory/deletedItems/{obj_id}", **{"$select": select}))]
        )
        answer = answers[0]
        if answer.ok and isinstance(answer.body, dict):
            into.append(answer.body)
        elif answer.status != 404:
            failures.append(
                f"reading the last state of removed {self.kind} {obj_id} from deleted items: "
                f"{why(answer, self.kind, writing=False)}"
            )
        return None
