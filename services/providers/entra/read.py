"""Reading users or groups: pages of `$select`ed properties (only those the job maps) in
the side's `$filter`, by @odata.nextLink; each group's members by their own pages
(`/groups/{id}/members/microsoft.graph.user`: its users, the members a job names; 20
groups' first pages in one $batch); a user's manager with
`$expand`. Incremental reads follow a delta link (delta.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from core.engine.planned_state import ID_FIELD
from core.errors import BadInput
from schemas.values import Record

from .errors import why
from .graph import Call, Graph, Program, Step, listing, not_a_page, url
from .lookup import IN_VALUES
from .values import (
    COLLECTION,
    GROUP,
    MANAGER,
    MEMBERS,
    USER,
    USER_CAST,
    quoted,
    record_of,
    selected,
)

_ADVANCED = re.compile(r"\bne\b|\bnot\b|endswith\s*\(", re.IGNORECASE)


def advanced(query: str | None) -> bool:
    """Whether a filter is one of Graph's advanced queries (ConsistencyLevel: eventual)."""
    return bool(query and _ADVANCED.search(query))


class Reader:
    def __init__(
        self,
        graph: Graph,
        kind: str,
        fields: list[str],
        query: str | None,
        member_key: str,
        *,
        identifiers: bool = False,
        page_size: int = 999,
    ) -> None:
        self.graph, self.kind, self.fields, self.query = graph, kind, fields, query
        self.member_key, self.identifiers, self.page_size = member_key, identifiers, page_size
        low = {f.lower() for f in fields}
        self.manager = kind == USER and MANAGER in low
        self.members = kind == GROUP and MEMBERS in low
        self.select = selected(
            [*fields, *([member_key] if identifiers and kind == USER else [])], kind
        )
        self.ids: dict[str, str] = {}  # object id → its record's member key value

    def params(self, query: str | None) -> tuple[dict[str, str], dict[str, str]]:
        params = {"$select": ",".join(self.select), "$top": str(self.page_size)}
        headers: dict[str, str] = {}
        if query:
            params["$filter"] = query
        if advanced(query):
            params["$count"] = "true"
            headers["ConsistencyLevel"] = "eventual"
        if self.manager:
            params["$expand"] = f"manager($select=id,{self.member_key})"
        return params, headers

    async def records(self, batch_size: int) -> AsyncIterator[list[Record]]:
        params, headers = self.params(self.query)
        pending: list[Record] = []
        async for page in self.graph.pages(url(f"/{COLLECTION[self.kind]}", **params), headers):
            pending += await self.shape(page.get("value") or [])
            while len(pending) >= batch_size:
                yield pending[:batch_size]
                del pending[:batch_size]
        if pending:
            yield pending

    async def shape(self, objects: list[dict[str, Any]]) -> list[Record]:
        """Records of objects read (their members fetched first, for groups)."""
        members: dict[str, list[str]] = {}
        if self.members and objects:
            await self.members_of([str(o["id"]) for o in objects], members)
        out: list[Record] = []
        for obj in objects:
            record = record_of(obj, self.fields)
            if self.manager and isinstance(boss := obj.get("manager"), dict):
                value = _value(boss, self.member_key)
                if value:
                    record[_spelling(self.fields, MANAGER)] = value
            if self.members and members.get(str(obj["id"])):
                record[_spelling(self.fields, MEMBERS)] = sorted(
                    members[str(obj["id"])], key=str.casefold
                )
            if self.identifiers and self.kind == USER and (mine := _value(obj, self.member_key)):
                record[ID_FIELD] = mine
            out.append(record)
        return out

    async def members_of(self, group_ids: list[str], into: dict[str, list[str]]) -> None:
        failures: list[str] = []
        programs = [self._members(g, into.setdefault(g, []), failures) for g in group_ids]
        await self.graph.execute(programs)
        if failures:
            raise _refused(failures[0])

    def _members(self, group_id: str, into: list[str], failures: list[str]) -> Program:
        select = ",".join(dict.fromkeys(["id", self.member_key]))
        users = f"/groups/{group_id}/members/{USER_CAST}"
        link: str | None = url(users, **{"$select": select, "$top": "999"})
        while link is not None:
            answers = yield Step([Call("GET", link)])
            if not answers[0].ok:
                failures.append(
                    f"reading the members of group {group_id}: "
                    f"{why(answers[0], GROUP, writing=False)}"
                )
                return None
            body = listing(answers[0])
            if body is None:
                failures.append(
                    f"reading the members of group {group_id}: {not_a_page(answers[0])}"
                )
                return None
            for member in body["value"]:
                into.append(_value(member, self.member_key) or str(member.get("id")))
            next_link = body.get("@odata.nextLink")
            link = self.graph.relative(str(next_link)) if next_link else None
        return None

    async def by_ids(self, ids: list[str]) -> list[Record]:
        """The records of these objects that are in the side's scope, read afresh."""
        params, headers = self.params(None)
        found: list[dict[str, Any]] = []
        failures: list[str] = []
        programs: list[Program] = []
        for start in range(0, len(ids), IN_VALUES):
            chunk = ids[start : start + IN_VALUES]
            scope = f"id in ({', '.join(quoted(i) for i in chunk)})"
            query = f"({self.query}) and {scope}" if self.query else scope
            params, headers = self.params(query)
            programs.append(
                self._objects(url(f"/{COLLECTION[self.kind]}", **params), headers, found, failures)
            )
        await self.graph.execute(programs)
        if failures:
            raise _refused(failures[0])
        return await self.shape(found)

    def _objects(
        self,
        link: str | None,
        headers: dict[str, str],
        into: list[dict[str, Any]],
        failures: list[str],
    ) -> Program:
        while link is not None:
            answers = yield Step([Call("GET", link, headers=headers or None)])
            if not answers[0].ok:
                failures.append(
                    f"reading {self.kind}s: {why(answers[0], self.kind, writing=False)}"
                )
                return None
            body = listing(answers[0])
            if body is None:
                failures.append(f"reading {self.kind}s: {not_a_page(answers[0])}")
                return None
            into += body["value"]
            next_link = body.get("@odata.nextLink")
            link = self.graph.relative(str(next_link)) if next_link else None
        return None


def _refused(text: str) -> Exception:
    return BadInput(f"entra: {text}")


def _value(obj: dict[str, Any], name: str) -> str | None:
    for key, value in obj.items():
        if key.lower() == name.lower() and isinstance(value, str) and value:
            return value
    return None


def _spelling(fields: list[str], name: str) -> str:
    return next((f for f in fields if f.lower() == name), name)
