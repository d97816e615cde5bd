"""Roles, their permissions and policies, and who holds them: what people write in TOML
(`idsync role add FILE`) and what the roles bucket keeps (`idsync_roles`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

import msgspec

Permission = Literal[
    "connections.manage",
    "jobs.create",
    "jobs.edit-own",
    "jobs.edit-any",
    "jobs.run-own",
    "jobs.run-any",
    "jobs.preview",
    "runs.approve",
    "history.view-all",
    "history.view-own",
    "users.manage",
]
PERMISSIONS: tuple[Permission, ...] = get_args(Permission)
"""Every permission, in the order `idsync role list` shows them."""
DestinationAction = Literal["create", "update", "delete", "disable", "move"]
GROUP = "group:"
"""A grantee `group:NAME`: every person `idsync user add --group NAME` put in it."""
DIRECTORY = "directory:"
"""A grantee `directory:CONNECTION:GROUP`: the members of a group of a directory
connection (LDAP, AD), read by the workflow."""


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class SafetyCeiling(_Strict, frozen=True):
    """The most a role's jobs may let a run do before it waits for approval."""

    max_count: int | None = None
    max_percent: float | None = None
    allow_empty_source: bool = True
    """False: its jobs may not say `empty_source = "allow"`."""


class Policy(_Strict, frozen=True):
    """What the jobs of a role's holders may do. Every field left out allows anything."""

    sources: list[str] | None = None
    """Connections (ids, `*` and `?` patterns) a job may read from."""
    destinations: list[str] | None = None
    """Connections a job may write to."""
    object_types: dict[DestinationAction, list[str]] | None = None
    """Per action at the destination, the object types a job may ask it of (an action not
    listed: any type; listed with []: none)."""
    attributes_allow: list[str] | None = None
    """Destination fields (patterns) a job may map; None: any."""
    attributes_deny: list[str] = msgspec.field(default_factory=list)
    """Destination fields (patterns) a job may not map."""
    safety: SafetyCeiling | None = None


class Role(_Strict, frozen=True):
    id: str
    description: str = ""
    permissions: list[Permission] = msgspec.field(default_factory=list)
    policy: Policy | None = None


class RoleEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One role in the roles bucket (key: its id): its definition (None: a built-in role
    as it ships), who holds it, and who changed it last, when."""

    role: Role | None = None
    grantees: list[str] = msgspec.field(default_factory=list)
    """Principals, `group:NAME`, `directory:CONNECTION:GROUP`."""
    changed_by: str = ""
    changed_at: datetime | None = None


class RoleRemoveCommand(_Strict, frozen=True):
    """idsync.cmd.<principal>.role-remove (role-apply carries the Role itself)."""

    role_id: str


class GrantCommand(_Strict, frozen=True):
    """idsync.cmd.<principal>.grant|revoke: give (take) a role to a principal or group."""

    role_id: str
    grantee: str


class HeldRole(msgspec.Struct, frozen=True, kw_only=True):
    role: str
    via: str
    """How: "direct", "group:NAME", "directory:CONNECTION:GROUP", or "no roles defined"."""


class WhoAmI(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to idsync.cmd.<principal>.whoami."""

    principal: str
    in_force: bool
    """False: no role is granted to anyone yet, so everyone may do everything (owners
    and approvers still decide their jobs)."""
    roles: list[HeldRole] = msgspec.field(default_factory=list)
    permissions: list[Permission] = msgspec.field(default_factory=list)
    policies: dict[str, Policy] = msgspec.field(default_factory=dict)


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    reason: str


class Refusals(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to idsync.cmd.<principal>.refusals: jobs that would be refused now."""

    jobs: list[Refusal] = msgspec.field(default_factory=list)


role_decoder = msgspec.json.Decoder(Role)
entry_decoder = msgspec.json.Decoder(RoleEntry)
role_remove_decoder = msgspec.json.Decoder(RoleRemoveCommand)
grant_decoder = msgspec.json.Decoder(GrantCommand)
whoami_decoder = msgspec.json.Decoder(WhoAmI)
refusals_decoder = msgspec.json.Decoder(Refusals)
