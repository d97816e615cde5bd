"""One tenant's directory: users, groups, deleted items, the change log delta queries read,
and what the tests configure (apps, extensions, throttling, faults).

Soft delete (learn.microsoft.com/graph/api/resources/directory and
/graph/api/directory-deleteditems-restore): a deleted user, or Microsoft 365 group, goes to
deleted items for 30 days — a user's userPrincipalName prefixed with its id (dashes
removed) so that the name can be used again — and is restored as it was; a security group
is deleted for good.
"""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .resources import (
    GROUP,
    USER,
    GraphFault,
    Kind,
    bad,
    check_value,
    complex_password,
    invalid,
    not_found,
    property_name,
)
from .throttle import Bucket

Obj = dict[str, Any]


def now_text() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class App:
    client_id: str
    secret: str | None
    certificate: str | None  # PEM
    roles: list[str]


@dataclass
class Fault:
    """Requests (method, path prefix under /v1.0) answered with an error, `times` times."""

    method: str
    path: str
    status: int
    code: str
    message: str
    times: int
    retry_after: float | None = None
    after: bool = False
    """Answered so once the request was carried out (a gateway's 504 after the write)."""


@dataclass
class Change:
    seq: int
    kind: str
    id: str
    props: frozenset[str]  # what changed; empty with `removed`
    created: bool = False
    removed: str | None = None  # "changed" (soft) or "deleted" (for good)


@dataclass
class Tenant:
    id: str
    name: str
    domains: list[str]
    apps: dict[str, App] = field(default_factory=dict)
    objects: dict[str, dict[str, Obj]] = field(default_factory=lambda: {"user": {}, "group": {}})
    deleted: dict[str, tuple[str, Obj]] = field(default_factory=dict)
    extensions: dict[str, bool] = field(default_factory=dict)  # name → multi-valued
    log: list[Change] = field(default_factory=list)
    seq: int = 0
    delta_epoch: int = 0
    token_epoch: int = 0
    token_lifetime: int = 3599
    writes: Bucket | None = None
    requests: Bucket | None = None
    faults: list[Fault] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)
    write_times: list[float] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def count(self, name: str, by: float = 1) -> None:
        self.stats[name] = self.stats.get(name, 0) + by

    # Finding objects.

    def find(self, kind: Kind, key: str) -> Obj:
        """By id, or a user by userPrincipalName (GET /users/{id | userPrincipalName})."""
        store = self.objects[kind.name]
        if key in store:
            return store[key]
        if kind is USER:
            folded = key.casefold()
            for obj in store.values():
                if str(obj.get("userPrincipalName", "")).casefold() == folded:
                    return obj
        raise not_found(key)

    def any_object(self, object_id: str) -> tuple[Kind, Obj]:
        for kind in (USER, GROUP):
            if object_id in self.objects[kind.name]:
                return kind, self.objects[kind.name][object_id]
        raise not_found(object_id)

    # The change log.

    def changed(self, kind: Kind, obj_id: str, props: set[str], *, created: bool = False) -> None:
        self.seq += 1
        self.log.append(Change(self.seq, kind.name, obj_id, frozenset(props), created=created))

    def removed(self, kind: Kind, obj_id: str, reason: str) -> None:
        self.seq += 1
        self.log.append(Change(self.seq, kind.name, obj_id, frozenset(), removed=reason))

    # Writing.

    def _values(self, kind: Kind, body: Obj, *, creating: bool) -> Obj:
        values: Obj = {}
        for given, value in body.items():
            if "@odata.bind" in given:
                continue
            name = property_name(kind, given, self.extensions)
            if name is None:
                raise bad(
                    f"Property '{given}' does not exist as a declared property or extension "
                    "property.",
                    given,
                )
            if name in kind.read_only:
                raise bad(f"Property '{name}' is read-only and cannot be set.", name)
            if value is None and name in kind.required:
                raise invalid(kind, name)
            values[name] = check_value(kind, name, value, self.extensions)
        if creating:
            for name in kind.required:
                if values.get(name) in (None, ""):
                    raise invalid(kind, name)
        if kind is USER:
            self._check_user(values)
        if "mailNickname" in values and values["mailNickname"] in ("", None):
            raise invalid(kind, "mailNickname")
        return values

    def _check_user(self, values: Obj) -> None:
        upn = values.get("userPrincipalName")
        if isinstance(upn, str):
            local, at, domain = upn.rpartition("@")
            if not at or not local or domain.lower() not in [d.lower() for d in self.domains]:
                raise bad(
                    "The domain portion of the userPrincipalName property is invalid. You must "
                    "use one of the verified domain names in your organization.",
                    "userPrincipalName",
                )
        profile = values.get("passwordProfile")
        if isinstance(profile, dict) and "password" in profile:
            password = profile["password"]
            if not isinstance(password, str) or not complex_password(password):
                raise bad(
                    "The specified password does not comply with password complexity "
                    "requirements. Please provide a different password.",
                    "passwordProfile",
                )

    def _unique(self, kind: Kind, values: Obj, own_id: str | None) -> None:
        if kind is not USER or "userPrincipalName" not in values:
            return
        folded = str(values["userPrincipalName"]).casefold()
        for obj in self.objects["user"].values():
            same = str(obj.get("userPrincipalName", "")).casefold() == folded
            if same and obj["id"] != own_id:
                raise bad(
                    "Another object with the same value for property userPrincipalName "
                    "already exists.",
                    "userPrincipalName",
                )

    def create(self, kind: Kind, body: Obj) -> Obj:
        values = self._values(kind, body, creating=True)
        self._unique(kind, values, None)
        binds = body.get("members@odata.bind", []) if kind is GROUP else []
        members = self._bound(binds)
        obj_id = str(uuid.uuid4())
        obj: Obj = {"id": obj_id, "createdDateTime": now_text(), **values}
        if kind is GROUP:
            obj["_members"] = members
            if obj.get("mailEnabled"):
                obj["mail"] = f"{obj['mailNickname']}@{self.domains[0]}"
        self._merge_complex(obj, {})
        self.objects[kind.name][obj_id] = obj
        self.changed(kind, obj_id, set(values) | ({"members"} if members else set()), created=True)
        return obj

    def update(self, kind: Kind, obj: Obj, body: Obj) -> None:
        values = self._values(kind, body, creating=False)
        self._unique(kind, values, obj["id"])
        binds = body.get("members@odata.bind", []) if kind is GROUP else []
        added = self._bound(binds)
        for member in added:
            if member in obj["_members"]:
                raise bad(
                    "One or more added object references already exist for the following "
                    "modified properties: 'members'."
                )
        old = dict(obj)
        self._merge_complex(obj, values)
        for name, value in values.items():
            if name in ("passwordProfile",) or isinstance(value, dict):
                continue
            if value is None:
                obj.pop(name, None)
            else:
                obj[name] = value
        if kind is GROUP:
            obj["_members"] = obj["_members"] + added
        props = {n for n in values if old.get(n) != obj.get(n) or isinstance(values[n], dict)}
        if added:
            props.add("members")
        if props:
            self.changed(kind, obj["id"], props)

    def _merge_complex(self, obj: Obj, values: Obj) -> None:
        for name, value in values.items():
            if isinstance(value, dict):
                if name == "passwordProfile":
                    if "password" in value:
                        obj["_password"] = value["password"]
                    obj["_forceChange"] = value.get("forceChangePasswordNextSignIn", True)
                    continue
                merged = {**(obj.get(name) or {}), **value}
                obj[name] = {k: v for k, v in merged.items() if v is not None}
        if "passwordProfile" in obj:
            profile = obj.pop("passwordProfile")
            obj["_password"] = profile.get("password")
            obj["_forceChange"] = profile.get("forceChangePasswordNextSignIn", True)

    def _bound(self, binds: Any) -> list[str]:
        if not isinstance(binds, list):
            raise bad("Invalid value for members@odata.bind: expected a list of URLs.")
        if len(binds) > 20:
            raise bad("No more than 20 members may be added in one request.", "members")
        ids: list[str] = []
        for url in binds:
            member_id = str(url).rstrip("/").rsplit("/", 1)[-1]
            self.any_object(member_id)
            ids.append(member_id)
        return ids

    def delete(self, kind: Kind, obj: Obj) -> None:
        del self.objects[kind.name][obj["id"]]
        for group in self.objects["group"].values():
            if obj["id"] in group["_members"]:
                group["_members"].remove(obj["id"])
                self.changed(GROUP, group["id"], {"members"})
        for user in self.objects["user"].values():
            if user.get("_manager") == obj["id"]:
                del user["_manager"]
                self.changed(USER, user["id"], {"manager"})
        soft = kind is USER or "Unified" in (obj.get("groupTypes") or [])
        if soft:
            obj["deletedDateTime"] = now_text()
            if kind is USER:
                obj["userPrincipalName"] = obj["id"].replace("-", "") + obj["userPrincipalName"]
            self.deleted[obj["id"]] = (kind.name, obj)
        self.removed(kind, obj["id"], "changed" if soft else "deleted")

    def restore(self, obj_id: str) -> Obj:
        if obj_id not in self.deleted:
            raise not_found(obj_id)
        kind_name, obj = self.deleted[obj_id]
        kind = USER if kind_name == "user" else GROUP
        upn = obj.get("userPrincipalName")
        prefix = obj_id.replace("-", "")
        original = dict(obj)
        if isinstance(upn, str) and upn.startswith(prefix):
            obj["userPrincipalName"] = upn[len(prefix) :]
        try:
            self._unique(kind, obj, obj_id)
        except GraphFault:
            obj.clear()
            obj.update(original)
            raise
        del self.deleted[obj_id]
        obj.pop("deletedDateTime", None)
        self.objects[kind.name][obj_id] = obj
        self.changed(kind, obj_id, {k for k in obj if not k.startswith("_")}, created=True)
        return obj

    def add_member(self, group: Obj, member_id: str) -> None:
        self.any_object(member_id)
        if member_id in group["_members"]:
            raise bad(
                "One or more added object references already exist for the following "
                "modified properties: 'members'."
            )
        group["_members"].append(member_id)
        self.changed(GROUP, group["id"], {"members"})

    def remove_member(self, group: Obj, member_id: str) -> None:
        if member_id not in group["_members"]:
            raise not_found(member_id)
        group["_members"].remove(member_id)
        self.changed(GROUP, group["id"], {"members"})

    def set_manager(self, user: Obj, manager_id: str | None) -> None:
        if manager_id is None:
            if "_manager" not in user:
                raise not_found("manager")
            del user["_manager"]
        else:
            self.find(USER, manager_id)
            user["_manager"] = manager_id
        self.changed(USER, user["id"], {"manager"})

    def wrote(self) -> None:
        self.write_times.append(time.monotonic())
