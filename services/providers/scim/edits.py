"""A change as SCIM edits: what a create POSTs, the PATCH operations of an update (only the
attributes it changes), and the same edits made to a resource read whole, for services
that take a full PUT only. Pure.

- `name.givenName`, `title`, an extension's `…:department`: replace, or remove when cleared;
- `emails[type eq "work"].value`: the item of that type has its value replaced, or an item
  is added when there is none; cleared, the item is removed;
- `emails.value`, `members`: the whole list replaced, or — for a group's members, which
  change by parts — values added, and removed each by `members[value eq "…"]`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

from core.scim.paths import Json, Path, get, literal, matches
from schemas.plan import Change
from schemas.values import Value

from .messages import Attribute, ResourceType

Op = Literal["set", "clear", "add", "remove"]
Typer = "Callable[[Path, str], Any]"


@dataclass(frozen=True)
class Edit:
    op: Op
    path: Path
    value: Any = None
    """set: the JSON value (a list for a whole multi-valued attribute); add, remove: a
    list of item values."""
    multi: bool = False
    """The path names a whole multi-valued attribute (no filter)."""
    complex: bool = False
    """The attribute is complex and singular (`manager`): its `value` is what is set."""


@dataclass(frozen=True)
class Field:
    """A field name of the job, read once: its path and the schema's word on it."""

    path: Path
    attribute: Attribute | None
    item: Attribute | None
    """The sub-attribute holding the value (emails' `value`), or the attribute itself."""

    @property
    def multi(self) -> bool:
        return (
            self.path.where is None and self.attribute is not None and (self.attribute.multiValued)
        )

    @property
    def complex(self) -> bool:
        a = self.attribute
        return a is not None and not a.multiValued and a.type.lower() == "complex"


def edits_of(change: Change, fields: dict[str, Field], typed: Any) -> list[Edit]:
    """The edits of a change; `typed(field, text)` gives a text's JSON value (raising
    ValueError). Values naming no field the job declared are read as strings."""
    out: list[Edit] = []
    for name, value in change.set.items():
        f = fields[name]
        items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
        items = [v for v in items if v != ""]
        if not items:
            out.append(Edit("clear", f.path, multi=f.multi, complex=f.complex))
        elif f.multi:
            out.append(Edit("set", f.path, [typed(f, v) for v in items], True))
        else:
            out.append(Edit("set", f.path, typed(f, items[0]), complex=f.complex))
    for name in change.clear:
        f = fields[name]
        out.append(Edit("clear", f.path, multi=f.multi, complex=f.complex))
    for op, values in (("add", change.add), ("remove", change.remove)):
        for name, items in values.items():
            f = fields[name]
            if items:
                out.append(Edit(op, f.path, [typed(f, v) for v in items], True))  # type: ignore[arg-type]
    return out


def _sub(edit: Edit) -> str:
    return edit.path.item_sub


def _items(edit: Edit, values: list[Any]) -> list[dict[str, Any]]:
    return [{_sub(edit): v} for v in values]


def patch_operations(edits: list[Edit], current: Json) -> list[dict[str, Any]]:
    """PATCH operations (RFC 7644 §3.5.2) for the edits; `current` is the resource as
    read (what filtered paths find)."""
    ops: list[dict[str, Any]] = []
    for e in edits:
        p = e.path
        top = p.top
        if e.op == "add":
            ops.append({"op": "add", "path": top, "value": _items(e, e.value)})
        elif e.op == "remove":
            ops += [
                {"op": "remove", "path": f"{top}[{_sub(e)} eq {literal(v)}]"}
                for v in e.value
                if isinstance(v, str | bool)
            ]
        elif p.where is not None:
            there = _item(current, p) is not None
            if e.op == "set" and there:
                ops.append(
                    {"op": "replace", "path": f"{top}{p.filter_text()}.{_sub(e)}", "value": e.value}
                )
            elif e.op == "set":
                item = {p.where[0]: p.where[1], _sub(e): e.value}
                ops.append({"op": "add", "path": top, "value": [item]})
            elif there:
                tail = "" if _sub(e) == "value" else f".{_sub(e)}"
                ops.append({"op": "remove", "path": f"{top}{p.filter_text()}{tail}"})
        elif e.multi:
            if e.op == "set":
                ops.append({"op": "replace", "path": top, "value": _items(e, e.value)})
            else:
                ops.append({"op": "remove", "path": top})
        else:
            target = f"{top}.{p.sub}" if p.sub else f"{top}.value" if e.complex else top
            if e.op == "set":
                ops.append({"op": "replace", "path": target, "value": e.value})
            else:
                ops.append({"op": "remove", "path": target})
    return ops


def _item(resource: Json, path: Path) -> Json:
    assert path.where is not None
    container = get(resource, path.schema) if path.schema else resource
    found = get(container, path.attr)
    items = found if isinstance(found, list) else []
    return next((i for i in items if isinstance(i, dict) and matches(i, path.where)), None)


def _key(container: dict[str, Any], name: str) -> str:
    """The container's own spelling of an attribute name, else the name."""
    folded = name.lower()
    return next((k for k in container if k.lower() == folded), name)


def apply_edits(resource: dict[str, Any], edits: list[Edit]) -> dict[str, Any]:
    """A copy of the resource with the edits made: the body of a PUT (or of a POST, from
    an empty resource)."""
    out = copy.deepcopy(resource)
    for e in edits:
        p = e.path
        if p.schema:
            key = _key(out, p.schema)
            container = out.setdefault(key, {})
            schemas = out.setdefault("schemas", [])
            if e.op in ("set", "add") and key not in schemas:
                schemas.append(key)
        else:
            container = out
        name = _key(container, p.attr)
        if e.op in ("add", "remove") or e.multi:
            items = container.get(name) if isinstance(container.get(name), list) else []
            sub = _sub(e)
            if e.op == "set":
                container[name] = _items(e, e.value)
            elif e.op == "clear":
                container.pop(name, None)
            elif e.op == "add":
                have = {str(i.get(sub)) for i in items if isinstance(i, dict)}
                container[name] = items + [i for i in _items(e, e.value) if str(i[sub]) not in have]
            else:
                gone = {str(v) for v in e.value}
                container[name] = [i for i in items if str(get(i, sub)) not in gone]
        elif p.where is not None:
            items = container.get(name) if isinstance(container.get(name), list) else []
            item = next((i for i in items if isinstance(i, dict) and matches(i, p.where)), None)
            if e.op == "set" and item is not None:
                item[_key(item, _sub(e))] = e.value
            elif e.op == "set":
                container[name] = [*items, {p.where[0]: p.where[1], _sub(e): e.value}]
            elif item is not None:
                if _sub(e) == "value":
                    container[name] = [i for i in items if i is not item]
                else:
                    item.pop(_key(item, _sub(e)), None)
        elif p.sub or e.complex:
            inner = container.setdefault(name, {})
            sub = _key(inner, p.item_sub)
            if e.op == "set":
                inner[sub] = e.value
            else:
                inner.pop(sub, None)
                if not inner:
                    container.pop(name, None)
        elif e.op == "set":
            container[name] = e.value
        else:
            container.pop(name, None)
        if p.schema and not container:
            out.pop(_key(out, p.schema), None)
    return out


def new_resource(kind: ResourceType, edits: list[Edit]) -> dict[str, Any]:
    """The body of a create: the resource type's schema and the edits' values."""
    return apply_edits({"schemas": [kind.schema]}, [e for e in edits if e.op != "clear"])


def first_value(value: Value | None) -> str | None:
    if isinstance(value, list):
        return value[0] if value else None
    return value if isinstance(value, str) else None
