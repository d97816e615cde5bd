"""Applying changes to users or groups: each change a small program of Graph requests
(graph.py runs many at once through $batch), every one idempotent.

- create: a new object (POST, with a generated or unknowable password, accountEnabled
  and a mailNickname made when the job maps none); an object that already has the key
  (the same create applied again) is updated instead, its create-only fields left alone;
  a deleted one with the key (a person who comes back within 30 days) is restored from
  deleted items and given the create's values, its password too;
- update: a PATCH of the changed fields only (cleared ones null);
- delete: a soft delete (gone already: nothing to do); disable and enable: accountEnabled;
- members by member key: added with members@odata.bind, 20 per request (one already
  there: added one by one, skipping those present), removed by $ref; manager by $ref.
  A member no user stands for is the change's error once the others are written.

Changes to one key in one batch apply in order: the batch goes in waves, one change per
key in each, the keys looked up again before each wave.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from schemas.plan import Change
from schemas.values import Record

from ..base import Layout, Outcome
from .errors import Answer, why
from .graph import Call, Graph, Program, Step, listing, not_a_page, unknown, url
from .lookup import Found, Key, Lookup, fold, key_filter
from .values import (
    COLLECTION,
    MANAGER,
    MEMBERS,
    PASSWORD_FIELDS,
    READ_ONLY,
    USER,
    USER_CAST,
    ValueProblem,
    body_of,
    nickname,
    password_of,
    unknown_password,
)

PART = 20  # members@odata.bind: at most 20 references in one request
ALREADY = "already exist"


class Writer:
    def __init__(self, graph: Graph, kind: str, layout: Layout, member_key: str) -> None:
        self.graph, self.kind, self.layout = graph, kind, layout
        self.member_key = member_key
        self.collection = COLLECTION[kind]
        self.lookup = Lookup(graph, kind)
        self.users = Lookup(graph, USER)

    def names(self, change: Change) -> tuple[str, ...]:
        return tuple(self.layout.keys or change.match)

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        waves: list[list[int]] = []
        seen: dict[Key, int] = {}
        for i, change in enumerate(changes):
            names = self.names(change)
            values = [change.match.get(n) for n in names]
            if not names or not all(isinstance(v, str) and v.strip() for v in values):
                outcomes[i] = Outcome(error="the change has no value for a key field")
                continue
            key = tuple(fold(str(v)) for v in values)
            at = seen.get(key, -1) + 1
            seen[key] = at
            if at == len(waves):
                waves.append([])
            waves[at].append(i)
        for wave in waves:
            errors = await self._wave([changes[i] for i in wave])
            for i, error in zip(wave, errors, strict=True):
                outcomes[i] = Outcome(error=error)
        return [outcomes[i] for i in range(len(changes))]

    async def _wave(self, changes: list[Change]) -> list[str | None]:
        names = self.names(changes[0])
        raw = [tuple(str(c.match[n]) for n in names) for c in changes]
        extra = ["accountEnabled"] if self.kind == USER else []
        live, failed = await self.lookup.live(names, raw, extra)
        if failed:
            return [failed] * len(changes)
        deleted: dict[Key, list[Found]] = {}
        creates = [
            c
            for c, r in zip(changes, raw, strict=True)
            if c.action == "create" and _fold(r) not in live
        ]
        if creates:
            deleted, failed = await self.lookup.deleted(names)
            if failed:
                return [failed] * len(changes)
        people, failed = await self._people(changes)
        if failed:
            return [failed] * len(changes)
        programs: list[Program] = []
        for change, key in zip(changes, raw, strict=True):
            found, gone = live.get(_fold(key), []), deleted.get(_fold(key), [])
            programs.append(self._program(change, found, gone, people))
        return await self.graph.execute(programs)

    async def _people(self, changes: list[Change]) -> tuple[dict[str, str], str | None]:
        """The ids of the users that members and managers name (member key → id)."""
        values: set[str] = set()
        for change in changes:
            for source in (change.set, change.add, change.remove):
                for name, value in source.items():
                    if name.lower() in (MANAGER, MEMBERS):
                        values.update(_list(value))
        if not values:
            return {}, None
        found, failed = await self.users.live((self.member_key,), [(v,) for v in values])
        return {k[0]: hits[0].id for k, hits in found.items() if len(hits) == 1}, failed

    # One change.

    def _program(
        self, change: Change, live: list[Found], gone: list[Found], people: dict[str, str]
    ) -> Program:
        doing = f"{change.action} {self.kind} {change.key}"
        try:
            if len(live) > 1:
                return _fails(f"{doing}: {len(live)} {self.kind}s have this key; none is changed")
            if change.action == "create":
                return self._create(doing, change, live, gone, people)
            if change.action == "update":
                if not live:
                    return _fails(f"{doing}: no {self.kind} with this key in the tenant")
                return self._after(
                    doing, live[0].id, change, people, patch=body_of(change.set, change.clear)
                )
            if change.action == "delete":
                return self._delete(doing, live)
            if change.action in ("disable", "enable"):
                if self.kind != USER:
                    return _fails(f"{doing}: groups have no account to {change.action}")
                if not live:
                    return _fails(f"{doing}: no user with this key in the tenant")
                patch = {"accountEnabled": change.action == "enable"}
                return self._after(doing, live[0].id, change, people, patch=patch)
            return _fails(f"{doing}: Entra ID has no containers; it cannot {change.action} objects")
        except ValueProblem as problem:
            return _fails(f"{doing}: {problem}")

    def _create(
        self,
        doing: str,
        change: Change,
        live: list[Found],
        gone: list[Found],
        people: dict[str, str],
    ) -> Program:
        values = dict(change.set)
        if live:  # created before (a batch applied again): what may change, changes
            kept = {k: v for k, v in values.items() if k not in change.create_only}
            again = Change(
                action="update",
                key=change.key,
                match=change.match,
                set=kept,
                object_type=change.object_type,
            )
            return self._after(
                doing, live[0].id, again, people, patch=body_of(_writable(kept)), merge=True
            )
        if len(gone) == 1:
            return self._restore(doing, gone[0].id, change, people)
        return self._new(doing, change, people)

    def _new(self, doing: str, change: Change, people: dict[str, str]) -> Program:
        values = dict(change.set)
        body = body_of(_writable(values))
        if self.kind == USER:
            body.setdefault("accountEnabled", True)
            upn = str(body.get("userPrincipalName") or "")
            body.setdefault("mailNickname", nickname(upn or str(body.get("displayName") or "")))
            password = password_of(values) or unknown_password()
            body["passwordProfile"] = {"password": password, "forceChangePasswordNextSignIn": True}
        else:
            body.setdefault("mailEnabled", False)
            body.setdefault("securityEnabled", True)
            body.setdefault("mailNickname", nickname(str(body.get("displayName") or change.key)))
        named = _name(values, MEMBERS)
        members, missing = self._ids(values.get(named) if named else [], people)
        if members:
            body["members@odata.bind"] = [self._ref(i) for i in members[:PART]]
        manager = _name(values, MANAGER)
        boss = None
        if manager is not None:
            boss = people.get(fold(str(values[manager])))
            if boss is None:
                value = values[manager]
                return _fails(
                    f"{doing}: manager: no user with {self.member_key} {value!r} in the tenant"
                )
        names = self.names(change)
        key = tuple(str(change.match.get(n, "")) for n in names)
        filtered = {"$filter": key_filter(names, [key]), "$select": "id"}
        found_by = url(f"/{self.collection}", **filtered)
        return self._then_create(doing, body, members[PART:], boss, found_by, missing)

    def _then_create(
        self,
        doing: str,
        body: dict[str, Any],
        more: list[str],
        boss: str | None,
        found_by: str,
        missing: str | None = None,
    ) -> Program:
        """The POST, then the members past the first 20 and the manager; `missing` (a
        member no user stands for) is the change's error once the rest is written. A POST
        whose answer leaves unknown whether Graph made the object (its gateway's 504) is
        not sent again before the object is looked up by its key (`found_by`): sent
        twice, a group would be made twice."""
        new_id = ""
        for _ in range(self.graph.attempts):
            answers = yield Step([Call("POST", f"/{self.collection}", body, once=True)])
            created = answers[0]
            if created.ok:
                new_id = str((created.body or {}).get("id", ""))
                break
            if not unknown(created):
                return f"{doing}: {why(created, self.kind)}"
            looked = yield Step([Call("GET", found_by)])
            page = listing(looked[0]) if looked[0].ok else None
            if page is None:
                return f"{doing}: {why(created, self.kind)}"
            if page["value"]:
                new_id = str(page["value"][0].get("id", ""))
                break
        else:
            return f"{doing}: {why(created, self.kind)}"
        calls = [
            Call(
                "PATCH",
                f"/groups/{new_id}",
                {"members@odata.bind": [self._ref(i) for i in more[n : n + PART]]},
            )
            for n in range(0, len(more), PART)
        ]
        if boss is not None:
            calls.append(
                Call("PUT", f"/users/{new_id}/manager/$ref", {"@odata.id": self._ref(boss)})
            )
        if calls:
            answers = yield Step(calls)
            for answer in answers:
                if not answer.ok:
                    return f"{doing}: created, then: {why(answer, self.kind)}"
        return f"{doing}: created, then: {missing}" if missing else None

    def _restore(self, doing: str, obj_id: str, change: Change, people: dict[str, str]) -> Program:
        values = dict(change.set)
        cleared = [
            f
            for f in self.layout.fields
            if f not in values and f not in self.layout.keys and f.lower() not in READ_ONLY
        ]
        patch = body_of(
            _writable(values), [c for c in cleared if c.lower() not in (MANAGER, MEMBERS)]
        )
        if self.kind == USER:
            patch.setdefault("accountEnabled", True)
            password = password_of(values)
            if password is not None:
                patch["passwordProfile"] = {
                    "password": password,
                    "forceChangePasswordNextSignIn": True,
                }
        calls = [Call("POST", f"/directory/deletedItems/{obj_id}/restore", {})]
        if patch:
            calls.append(Call("PATCH", f"/{self.collection}/{obj_id}", patch))
        answers = yield Step(calls, chained=True)
        for answer in answers:
            if not answer.ok:
                return f"{doing}: restoring it from deleted items: {why(answer, self.kind)}"
        rest = Change(
            action="update",
            key=change.key,
            match=change.match,
            object_type=change.object_type,
            set={k: v for k, v in values.items() if k.lower() in (MANAGER, MEMBERS)},
        )
        if rest.set:
            return (yield from self._after(doing, obj_id, rest, people, patch={}))
        return None

    def _delete(self, doing: str, live: list[Found]) -> Program:
        if not live:
            return None  # gone already
        answers = yield Step([Call("DELETE", f"/{self.collection}/{live[0].id}")])
        if answers[0].ok or answers[0].status == 404:
            return None
        return f"{doing}: {why(answers[0], self.kind)}"

    def _after(
        self,
        doing: str,
        obj_id: str,
        change: Change,
        people: dict[str, str],
        *,
        patch: dict[str, Any],
        merge: bool = False,
    ) -> Program:
        """A PATCH, then the manager and members the change names."""
        calls: list[Call] = []
        tolerated: set[int] = set()
        if patch:
            calls.append(Call("PATCH", f"/{self.collection}/{obj_id}", patch))
        manager = _name(change.set, MANAGER)
        if manager is not None:
            target = people.get(fold(str(change.set[manager])))
            if target is None:
                value = change.set[manager]
                return f"{doing}: manager: no user with {self.member_key} {value!r} in the tenant"
            calls.append(
                Call("PUT", f"/users/{obj_id}/manager/$ref", {"@odata.id": self._ref(target)})
            )
        elif any(c.lower() == MANAGER for c in change.clear):
            tolerated.add(len(calls))
            calls.append(Call("DELETE", f"/users/{obj_id}/manager/$ref"))
        members = _name(change.set, MEMBERS)
        add = list(_list(change.add.get(_name(change.add, MEMBERS) or MEMBERS)))
        remove = list(_list(change.remove.get(_name(change.remove, MEMBERS) or MEMBERS)))
        whole = members is not None or any(c.lower() == MEMBERS for c in change.clear)
        if whole:  # the whole list given: read what is there to know what to add and remove
            current = yield from self._members_of(doing, obj_id)
            if isinstance(current, str):
                return current
            wanted, missing = self._ids(change.set.get(members) if members else [], people)
            add_ids = [i for i in wanted if i not in current]
            # A member no user stands for may be one of those there: none is removed.
            keep = merge or missing is not None
            remove_ids = [] if keep else [i for i in current if i not in wanted]
        else:
            add_ids, missing = self._ids(add, people)
            remove_ids = [people[fold(v)] for v in remove if fold(v) in people]
        missed = f"{doing}: {missing}" if missing else None
        parts = [add_ids[i : i + PART] for i in range(0, len(add_ids), PART)]
        binds = {len(calls) + n: part for n, part in enumerate(parts)}
        calls += [
            Call("PATCH", f"/groups/{obj_id}", {"members@odata.bind": [self._ref(i) for i in part]})
            for part in parts
        ]
        for member in remove_ids:
            tolerated.add(len(calls))
            calls.append(Call("DELETE", f"/groups/{obj_id}/members/{member}/$ref"))
        if not calls:
            return missed
        answers = yield Step(calls)
        one_by_one: list[str] = []
        for n, answer in enumerate(answers):
            if answer.ok or (n in tolerated and answer.status == 404):
                continue
            if n in binds and ALREADY in answer.message:
                one_by_one += binds[n]
                continue
            return f"{doing}: {why(answer, self.kind)}"
        if one_by_one:  # some were members already: each on its own, those skipped
            singles = [
                Call("POST", f"/groups/{obj_id}/members/$ref", {"@odata.id": self._ref(i)})
                for i in one_by_one
            ]
            for start in range(0, len(singles), PART):
                answers = yield Step(singles[start : start + PART])
                for answer in answers:
                    if not answer.ok and ALREADY not in answer.message:
                        return f"{doing}: {why(answer, self.kind)}"
        return missed

    def _members_of(
        self, doing: str, group_id: str
    ) -> Generator[Step, list[Answer], list[str] | str]:
        found: list[str] = []
        users = f"/groups/{group_id}/members/{USER_CAST}"  # other members are left alone
        link: str | None = url(users, **{"$select": "id", "$top": "999"})
        while link is not None:
            answers = yield Step([Call("GET", link)])
            if not answers[0].ok:
                return f"{doing}: reading its members: {why(answers[0], self.kind, writing=False)}"
            body = listing(answers[0])
            if body is None:
                return f"{doing}: reading its members: {not_a_page(answers[0])}"
            found += [str(m["id"]) for m in body["value"]]
            next_link = body.get("@odata.nextLink")
            link = self.graph.relative(str(next_link)) if next_link else None
        return found

    def _ids(self, values: Any, people: dict[str, str]) -> tuple[list[str], str | None]:
        """The ids of the users `values` name, and what says those no user stands for
        (the others are written all the same)."""
        ids: list[str] = []
        unknown: list[str] = []
        for value in _list(values):
            found = people.get(fold(value))
            if found is None:
                unknown.append(value)
            else:
                ids.append(found)
        if not unknown:
            return list(dict.fromkeys(ids)), None
        named = ", ".join(repr(v) for v in unknown)
        return list(
            dict.fromkeys(ids)
        ), f"members: no user with {self.member_key} {named} in the tenant"

    def _ref(self, obj_id: str) -> str:
        return f"{self.graph.base}/directoryObjects/{obj_id}"


def _fold(key: tuple[str, ...]) -> Key:
    return tuple(fold(v) for v in key)


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _name(values: dict[str, Any], wanted: str) -> str | None:
    return next((k for k in values if k.lower() == wanted), None)


def _writable(values: Record) -> Record:
    return {
        k: v
        for k, v in values.items()
        if k.lower() not in READ_ONLY and k.lower() not in PASSWORD_FIELDS
    }


def _fails(error: str) -> Program:
    return error
    yield Step([])  # a generator that asks for nothing and fails
