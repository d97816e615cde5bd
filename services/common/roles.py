"""Roles in the bucket `idsync_roles`: one entry per role (its id), a definition and
who holds it (schemas/roles.py `RoleEntry`), and under `members.<grantee>` the members
the workflow last read of each directory group a role is granted to. The workflow alone
writes it; everyone reads it (`idsync role list|show`), and the services ask it who
holds what (`Authority`)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from core import roles as rules
from core.checks.policy import holder_problems
from schemas.jobs import Job
from schemas.roles import DIRECTORY, HeldRole, Role, RoleEntry, entry_decoder

from .jetstream import ROLES_BUCKET, not_set_up
from .reading import bucket_keys
from .users import Users
from .users import load as load_users

MEMBERS = "members."
_members_decoder = msgspec.json.Decoder(list[str])


async def _bucket(js: JetStreamContext) -> KeyValue:
    try:
        return await js.key_value(ROLES_BUCKET)
    except nats.js.errors.BucketNotFoundError:
        raise not_set_up(f"bucket {ROLES_BUCKET}") from None


async def _read(js: JetStreamContext) -> dict[str, bytes]:
    """Every key's value, read at once (each command asks: the gets go together)."""
    bucket = await _bucket(js)

    async def value(key: str) -> bytes | None:
        try:
            return (await bucket.get(key)).value
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None

    keys = await bucket_keys(js, ROLES_BUCKET)
    values = await asyncio.gather(*(value(key) for key in keys))
    return {key: found for key, found in zip(keys, values, strict=True) if found}


def _split(raw: Mapping[str, bytes]) -> tuple[dict[str, RoleEntry], dict[str, list[str]]]:
    entries = {k: entry_decoder.decode(v) for k, v in raw.items() if not k.startswith(MEMBERS)}
    members = {
        base64.urlsafe_b64decode(k.removeprefix(MEMBERS)).decode(): _members_decoder.decode(v)
        for k, v in raw.items()
        if k.startswith(MEMBERS)
    }
    return entries, members


async def entries(js: JetStreamContext) -> dict[str, RoleEntry]:
    return _split(await _read(js))[0]


async def put(js: JetStreamContext, role_id: str, entry: RoleEntry) -> None:
    await (await _bucket(js)).put(role_id, msgspec.json.encode(entry))


async def delete(js: JetStreamContext, role_id: str) -> None:
    await (await _bucket(js)).delete(role_id)


def _members_key(grantee: str) -> str:
    return MEMBERS + base64.urlsafe_b64encode(grantee.encode()).decode()


async def put_members(js: JetStreamContext, grantee: str, members: list[str]) -> None:
    """The members of a directory group as last read (the workflow reads them)."""
    await (await _bucket(js)).put(_members_key(grantee), msgspec.json.encode(sorted(members)))


@dataclass
class Authority:
    """Who holds which role, and what that lets them do, as a service answering a
    person sees it: the roles bucket, `users.json`'s groups, directory groups' members."""

    entries: dict[str, RoleEntry]
    users: Users
    directory: Mapping[str, list[str]] = field(default_factory=dict)

    @property
    def in_force(self) -> bool:
        return rules.in_force(self.entries)

    def held(self, principal: str) -> list[HeldRole]:
        person = self.users.people.get(principal)
        groups = person.groups if person is not None else []
        return rules.roles_of(principal, self.entries, groups, self.directory)

    def refusal(self, action: str, principal: str) -> str | None:
        return rules.refusal(action, principal, self.held(principal), self.entries)

    def job_problems(self, job: Job, holders: Iterable[str]) -> list[str]:
        """Every rule of the holders' policies the job breaks (none while roles are not
        in force)."""
        if not self.in_force:
            return []
        found: list[str] = []
        seen: set[str] = set()
        for holder in holders:
            if holder.casefold() in seen:
                continue
            seen.add(holder.casefold())
            found += holder_problems(job, holder, self.held(holder), self.entries)
        return found

    def directory_grantees(self) -> list[str]:
        return sorted(
            {g for e in self.entries.values() for g in e.grantees if g.startswith(DIRECTORY)}
        )


async def authority(js: JetStreamContext, home: Path) -> Authority:
    """As stored: directory groups' members as the workflow last read them."""
    found, members = _split(await _read(js))
    known = Authority(entries=found, users=load_users(home))
    known.directory = {g: members.get(g, []) for g in known.directory_grantees()}
    return known


def role_view(role: Role, entry: RoleEntry | None) -> dict[str, object]:
    """A role as `idsync role show --json` and the portal show it: its definition, whether
    it ships with idsync, who holds it, who changed it last and when."""
    shown: dict[str, object] = msgspec.to_builtins(role)
    shown["builtin"] = role.id in rules.BUILTIN
    shown["granted_to"] = list(entry.grantees) if entry else []
    shown["changed_by"] = entry.changed_by if entry else ""
    shown["changed_at"] = entry.changed_at.isoformat() if entry and entry.changed_at else None
    return shown
