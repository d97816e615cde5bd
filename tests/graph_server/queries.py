"""Reading: $select, $filter, $top and paging by @odata.nextLink, $expand=manager, a
group's members, deleted items, and delta queries with their state tokens.

Pages: learn.microsoft.com/graph/query-parameters, /graph/paging (@odata.nextLink with a
$skiptoken; $top from 1 to 999, 100 by default for users and groups),
/graph/aad-advanced-queries (ConsistencyLevel: eventual with $count=true),
/graph/delta-query-overview and /graph/delta-query-users (a round of @odata.nextLink pages
ending with an @odata.deltaLink; `$deltatoken=latest`; changed objects as their id and at
least the changed properties; removed ones as `@removed` with the reason "changed" —
restorable from deleted items — or "deleted"; members@delta; only `id eq` filters),
and the 7-day life of delta tokens (devblogs.microsoft.com/microsoft365dev, "Duration of
change tracking tokens": syncStateNotFound, "The sync state generation is not found…").
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

from .directory import Obj, Tenant
from .odata import FilterError, compile_filter, ids_named, ids_only
from .resources import GROUP, KINDS, NAVIGATION, STRINGS, USER, GraphFault, Kind, bad

DEFAULT_PAGE = 100
DELTA_PAGE = 200


def encode_token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


def decode_token(text: str) -> dict[str, Any]:
    try:
        found = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:
        raise bad("The token is not valid.", code="Request_BadRequest") from None
    if not isinstance(found, dict):
        raise bad("The token is not valid.")
    return found


def select_of(tenant: Tenant, kind: Kind, text: str | None, *, delta: bool = False) -> list[str]:
    if not text:
        return list(kind.default_select)
    names: list[str] = []
    for given in (part.strip() for part in text.split(",")):
        known = next(
            (k for k in (*kind.properties, *tenant.extensions) if k.lower() == given.lower()),
            None,
        )
        if known is None and delta and given.lower() in NAVIGATION[kind.name]:
            known = given.lower()
        if known is None:
            raise bad(
                f"Could not find a property named '{given}' on type 'microsoft.graph.{kind.name}'."
            )
        names.append(known)
    if "id" not in names:
        names.insert(0, "id")
    return names


def render(tenant: Tenant, kind: Kind, obj: Obj, select: list[str]) -> Obj:
    out: Obj = {}
    for name in select:
        if name in ("manager", "members"):
            continue
        value = obj.get(name)
        if value is None and name in tenant.extensions:
            continue  # unset directory extensions are left out
        if value is None and kind.properties.get(name) == STRINGS:
            value = []
        out[name] = value
    return out


def page_size(query: dict[str, str], default: int = DEFAULT_PAGE) -> int:
    text = query.get("$top")
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= 999:
        raise bad(f"Invalid page size specified: '{text}'. Must be between 1 and 999 inclusive.")
    return int(text)


def matching(
    kind: Kind, objects: list[Obj], query: dict[str, str], headers: dict[str, str]
) -> list[Obj]:
    text = query.get("$filter")
    if not text:
        return objects
    named = ids_named(text)
    if named is not None:  # looked up by id, as Graph does, then tested
        pool = _index(objects)
        objects = [pool[i] for i in named if i in pool]
    try:
        test, advanced = compile_filter(text)
    except FilterError as e:
        raise GraphFault(400, "Request_UnsupportedQuery", str(e)) from None
    eventual = headers.get("consistencylevel", "").lower() == "eventual"
    if advanced and not (eventual and query.get("$count", "").lower() == "true"):
        raise GraphFault(
            400,
            "Request_UnsupportedQuery",
            f"Unsupported or invalid query filter clause specified for resource "
            f"'{kind.title}': this filter needs ConsistencyLevel: eventual and $count=true.",
        )
    return [obj for obj in objects if test(obj)]


def _index(objects: list[Obj]) -> dict[str, Obj]:
    return {str(o.get("id")): o for o in objects}


def listing(
    tenant: Tenant,
    base: str,
    path: str,
    kind: Kind,
    objects: list[Obj],
    query: dict[str, str],
    headers: dict[str, str],
) -> Obj:
    """One page of a collection: value, @odata.nextLink, @odata.count."""
    select = select_of(tenant, kind, query.get("$select"))
    found = matching(kind, objects, query, headers)
    size = page_size(query)
    start = int(decode_token(query["$skiptoken"]).get("o", 0)) if "$skiptoken" in query else 0
    page = found[start : start + size]
    manager_select = _expand_manager(tenant, query.get("$expand"))
    values = []
    for obj in page:
        shown = render(tenant, kind, obj, select)
        if manager_select is not None:
            boss = tenant.objects["user"].get(obj.get("_manager", ""))
            if boss is not None:
                shown["manager"] = {
                    "@odata.type": "#microsoft.graph.user",
                    **render(tenant, USER, boss, manager_select),
                }
        values.append(shown)
    body: Obj = {"@odata.context": f"{base}/v1.0/$metadata#{kind.collection}", "value": values}
    if query.get("$count", "").lower() == "true":
        body["@odata.count"] = len(found)
    if start + size < len(found):
        rest = {k: v for k, v in query.items() if k != "$skiptoken"}
        rest["$skiptoken"] = encode_token({"o": start + size})
        body["@odata.nextLink"] = link(base, path, rest)
    return body


def _expand_manager(tenant: Tenant, text: str | None) -> list[str] | None:
    if not text:
        return None
    name, _, inner = text.partition("(")
    if name.strip().lower() != "manager":
        raise bad(f"Could not find a property named '{name}' on type 'microsoft.graph.user'.")
    inner = inner.rstrip(")")
    chosen = inner.partition("=")[2] if inner.lower().startswith("$select=") else None
    return select_of(tenant, USER, chosen) if chosen else ["id", "displayName", "userPrincipalName"]


def link(base: str, path: str, query: dict[str, str]) -> str:
    text = "&".join(f"{k}={quote(v, safe=',()=$@:')}" for k, v in query.items())
    return f"{base}/v1.0/{path}" + (f"?{text}" if text else "")


def members(
    tenant: Tenant,
    base: str,
    path: str,
    group: Obj,
    query: dict[str, str],
    headers: dict[str, str],
    *,
    users_only: bool = False,
) -> Obj:
    """One page of a group's members, each with its @odata.type; with `users_only` (the
    OData cast `/members/microsoft.graph.user`), its users alone."""
    size = page_size(query)
    start = int(decode_token(query["$skiptoken"]).get("o", 0)) if "$skiptoken" in query else 0
    every = group["_members"]
    if users_only:
        every = [m for m in every if m in tenant.objects["user"]]
    ids = every[start : start + size]
    values = []
    for member_id in ids:
        kind = USER if member_id in tenant.objects["user"] else GROUP
        obj = tenant.objects[kind.name][member_id]
        select = select_of(tenant, kind, query.get("$select")) if query.get("$select") else ["id"]
        values.append({"@odata.type": kind.odata_type, **render(tenant, kind, obj, select)})
    body: Obj = {"@odata.context": f"{base}/v1.0/$metadata#directoryObjects", "value": values}
    if start + size < len(every):
        rest = {k: v for k, v in query.items() if k != "$skiptoken"}
        rest["$skiptoken"] = encode_token({"o": start + size})
        body["@odata.nextLink"] = link(base, path, rest)
    return body


EXPIRED = GraphFault(
    410,
    "syncStateNotFound",
    "The sync state generation is not found. The delta token is expired and data must be "
    "synchronized again.",
)


def delta(tenant: Tenant, base: str, collection: str, query: dict[str, str]) -> Obj:
    """One page of a delta round: the first round lists every object, later rounds what
    changed since the round their delta link ended."""
    kind = KINDS[collection]
    path = f"{collection}/delta"
    if "$top" in query or "$expand" in query or "$orderby" in query:
        name = next(k for k in ("$top", "$expand", "$orderby") if k in query)
        raise GraphFault(400, "Request_UnsupportedQuery", f"{name} is not supported with delta.")
    if "$skiptoken" in query:
        state = decode_token(query["$skiptoken"])
    elif "$deltatoken" in query and query["$deltatoken"].lower() != "latest":
        state = decode_token(query["$deltatoken"])
        state = {**state, "o": 0, "end": tenant.seq}
    else:
        ids = None
        if "$filter" in query:
            ids = ids_only(query["$filter"])
            if ids is None:
                raise GraphFault(
                    400,
                    "Request_UnsupportedQuery",
                    "Delta queries take only filters on the object id (id eq '…').",
                )
        select = select_of(tenant, kind, query.get("$select"), delta=True)
        state = {"k": kind.name, "sel": select, "ids": ids, "e": tenant.delta_epoch}
        if query.get("$deltatoken", "").lower() == "latest":
            return _end(base, path, kind, {**state, "s": tenant.seq}, [])
        state = {**state, "initial": True, "o": 0, "end": tenant.seq}
    if state.get("e") != tenant.delta_epoch or state.get("k") != kind.name:
        raise EXPIRED
    rows = _initial(tenant, kind, state) if state.get("initial") else _changes(tenant, kind, state)
    start = int(state.get("o", 0))
    page = rows[start : start + DELTA_PAGE]
    if start + DELTA_PAGE < len(rows):
        token = encode_token({**state, "o": start + DELTA_PAGE})
        return {
            "@odata.context": f"{base}/v1.0/$metadata#{kind.collection}",
            "@odata.nextLink": link(base, path, {"$skiptoken": token}),
            "value": page,
        }
    return _end(base, path, kind, {**state, "s": state["end"]} if "end" in state else state, page)


def _end(base: str, path: str, kind: Kind, state: dict[str, Any], page: list[Obj]) -> Obj:
    keep = {k: state[k] for k in ("k", "sel", "ids", "e", "s")}
    return {
        "@odata.context": f"{base}/v1.0/$metadata#{kind.collection}",
        "@odata.deltaLink": link(base, path, {"$deltatoken": encode_token(keep)}),
        "value": page,
    }


def _shown(tenant: Tenant, kind: Kind, obj: Obj, select: list[str], props: set[str] | None) -> Obj:
    names = select if props is None else ["id", *[n for n in select if n in props]]
    out = render(tenant, kind, obj, names)
    if kind is GROUP and "members" in select and (props is None or "members" in props):
        out["members@delta"] = [
            {"@odata.type": "#microsoft.graph.user", "id": m} for m in obj["_members"]
        ]
    if kind is USER and "manager" in select and (props is None or "manager" in props):
        boss = obj.get("_manager")
        out["manager@delta"] = (
            [{"@odata.type": "#microsoft.graph.user", "id": boss}] if boss else []
        )
    return out


def _initial(tenant: Tenant, kind: Kind, state: dict[str, Any]) -> list[Obj]:
    ids = state.get("ids")
    objects = [o for o in tenant.objects[kind.name].values() if ids is None or o["id"] in ids]
    return [_shown(tenant, kind, obj, state["sel"], None) for obj in objects]


def _changes(tenant: Tenant, kind: Kind, state: dict[str, Any]) -> list[Obj]:
    since, until, ids = int(state["s"]), int(state["end"]), state.get("ids")
    latest: dict[str, tuple[set[str], bool, str | None]] = {}
    for change in tenant.log:
        if change.seq <= since or change.seq > until or change.kind != kind.name:
            continue
        if ids is not None and change.id not in ids:
            continue
        props, created, _ = latest.get(change.id, (set(), False, None))
        latest[change.id] = (props | set(change.props), created or change.created, change.removed)
    rows: list[Obj] = []
    select = state["sel"]
    for obj_id, (props, created, removed) in latest.items():
        obj = tenant.objects[kind.name].get(obj_id)
        if removed is not None or obj is None:
            reason = "changed" if obj_id in tenant.deleted else "deleted"
            rows.append({"id": obj_id, "@removed": {"reason": reason}})
            continue
        if created:
            rows.append(_shown(tenant, kind, obj, select, None))
        elif props & set(select):
            rows.append(_shown(tenant, kind, obj, select, props))
    return rows
