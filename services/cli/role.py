"""`idsync role add|list|show|remove|history`, `idsync user grant|revoke` and `idsync
whoami`: the workflow decides and keeps them (services/workflow/roles.py); these only ask
it, and read the roles bucket and the journal."""

from __future__ import annotations

import argparse
from pathlib import Path

import msgspec

from core import roles as rules
from schemas.commands import encode
from schemas.events import RoleChanged
from schemas.roles import (
    GrantCommand,
    RoleEntry,
    RoleRemoveCommand,
    refusals_decoder,
    whoami_decoder,
)
from schemas.subjects import ROLE_EVENTS
from services.common import roles as stored_roles
from services.common.definitions import load_role

from .client import connect
from .output import print_json, print_table


async def role_add(args: argparse.Namespace) -> int:
    role = load_role(Path(args.file))
    async with connect(args.settings) as session:
        reply = await session.ask("role-apply", msgspec.json.encode(role))
    print(f"role {role.id} {reply.note}")
    return 0


async def role_remove(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        reply = await session.ask("role-remove", encode(RoleRemoveCommand(role_id=args.role)))
    print(f"role {args.role}: {reply.note}")
    return 0


async def _entries(args: argparse.Namespace) -> dict[str, RoleEntry]:
    async with connect(args.settings) as session:
        return await stored_roles.entries(session.js)


async def role_list(args: argparse.Namespace) -> int:
    entries = await _entries(args)
    roles = rules.all_roles(entries)
    if args.json:
        print_json([stored_roles.role_view(role, entries.get(role.id)) for role in roles])
        return 0
    if not rules.in_force(entries):
        print("no role is granted yet: everyone may do everything (`idsync user grant`)\n")
    rows = [
        (
            role.id,
            "built-in" if role.id in rules.BUILTIN else "custom",
            ", ".join(entries[role.id].grantees) if role.id in entries else "",
            "yes" if role.policy is not None else "",
            ", ".join(role.permissions),
        )
        for role in roles
    ]
    print_table(rows, ("ROLE", "KIND", "GRANTED TO", "POLICY", "PERMISSIONS"))
    return 0


async def role_show(args: argparse.Namespace) -> int:
    entries = await _entries(args)
    role = rules.definition(args.role, entries)
    if role is None:
        from core.errors import NotFound

        raise NotFound(f"no role {args.role!r}: `idsync role list` shows them")
    shown = stored_roles.role_view(role, entries.get(role.id))
    if args.json:
        print_json(shown)
        return 0
    print(f"role {role.id}{' (built-in)' if shown['builtin'] else ''}: {role.description}")
    print(f"  permissions: {', '.join(role.permissions) or 'none'}")
    print(f"  granted to: {', '.join(shown['granted_to']) or 'nobody'}")  # type: ignore[arg-type]
    if shown["changed_by"]:
        print(f"  changed by {shown['changed_by']} at {shown['changed_at']}")
    if role.policy is not None:
        print("  policy:")
        for name, value in msgspec.to_builtins(role.policy).items():
            print(f"    {name}: {value}")
    return 0


async def role_history(args: argparse.Namespace) -> int:
    """From the recorder, which keeps role changes as long as its database; from the
    journal when no recorder answers."""
    from core.errors import Unreachable
    from schemas.history import HistoryQuery
    from services.common.history_client import pages

    query = HistoryQuery(what="roles", job_id=args.role or "")
    async with connect(args.settings) as session:
        try:
            found = [e async for page in pages(session, query) for e in page.events]
        except Unreachable:
            found = list(await session.journal(ROLE_EVENTS))
    events = [e for e in found if isinstance(e, RoleChanged)]
    if args.role:
        events = [e for e in events if e.job_id == args.role]
    if args.json:
        print_json([msgspec.to_builtins(e) for e in events])
        return 0
    if not events:
        print("no role has been changed")
        return 0
    rows = [(f"{e.at:%Y-%m-%d %H:%M:%S}", e.by, e.job_id, e.change, e.grantee) for e in events]
    print_table(rows, ("AT", "BY", "ROLE", "CHANGE", "GRANTEE"))
    return 0


async def _grant(args: argparse.Namespace, verb: str) -> int:
    command = GrantCommand(role_id=args.role, grantee=args.grantee)
    async with connect(args.settings) as session:
        reply = await session.ask(verb, encode(command))
    print(reply.note)
    return 0


async def user_grant(args: argparse.Namespace) -> int:
    return await _grant(args, "grant")


async def user_revoke(args: argparse.Namespace) -> int:
    return await _grant(args, "revoke")


async def whoami(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        reply = await session.ask("whoami", b"{}")
    answer = whoami_decoder.decode(reply.note)
    if args.json:
        print_json(msgspec.to_builtins(answer))
        return 0
    print(f"you are {answer.principal}")
    if not answer.in_force:
        print("no role is granted yet: everyone may do everything (owners and approvers")
        print("still decide their jobs)")
        return 0
    if not answer.roles:
        print("you hold no role: you may read, and do nothing else")
        return 0
    for held in answer.roles:
        print(f"  role {held.role} ({held.via})")
    print(f"you may: {', '.join(answer.permissions) or 'nothing'}")
    for role_id, policy in answer.policies.items():
        print(f"policy of {role_id}: {msgspec.json.encode(policy).decode()}")
    return 0


async def refused_jobs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(job, the rules it breaks) for every job its owners' policies refuse now."""
    async with connect(args.settings) as session:
        reply = await session.ask("refusals", b"{}")
    return [(r.job_id, r.reason) for r in refusals_decoder.decode(reply.note).jobs]
