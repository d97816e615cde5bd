"""`idsync user add|list|remove` (the people of the embedded server) and
`idsync run approvals` (what waits for whom)."""

from __future__ import annotations

import argparse

from core.checks.principals import same
from schemas.ids import utcnow
from services.common import access, users
from services.common.credentials import person_file
from services.common.runs import Runs
from services.common.settings import Settings
from services.workflow.approvals import WAITING, Waiting, waiting

from .client import connect
from .output import print_json, print_table


def _applied(settings: Settings) -> str:
    if users.reload_server(settings.home):
        return "the running server has read its new users"
    return "it takes effect when `idsync up` starts (or restart the server you run)"


async def user_add(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    password = users.add_person(settings.home, args.principal, args.group or [], args.system)
    path = person_file(settings.home, args.principal)
    kind = "system" if args.system else "person"
    print(f"added {kind} {args.principal}; {_applied(settings)}")
    print(f"  password: {password}")
    print(
        f"  also in {path} (readable by you only): hand it over, then they set "
        f"IDSYNC_NATS_CREDENTIALS=<that file> (or IDSYNC_NATS_USER={args.principal} and "
        "IDSYNC_NATS_PASSWORD)"
    )
    return 0


async def user_remove(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    users.remove_person(settings.home, args.principal)
    print(f"removed {args.principal}; {_applied(settings)}")
    return 0


async def user_list(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    found = users.load(settings.home)
    rows = [
        (
            principal,
            "system" if person.system else "person",
            ", ".join(person.groups),
            access.person(principal).publish[0],
        )
        for principal, person in sorted(found.people.items())
    ]
    rows += [(access.SERVICE_USERS[name], "service", "", "-") for name in sorted(found.services)]
    if args.json:
        keys = ("user", "kind", "groups", "commands")
        print_json([dict(zip(keys, row, strict=True)) for row in rows])
        return 0
    if not rows:
        print(f"no users in {users.users_path(settings.home)}: `idsync up` creates them")
        return 0
    print_table(rows, ("USER", "KIND", "GROUPS", "MAY SEND"))
    return 0


async def run_approvals(args: argparse.Namespace) -> int:
    """The runs waiting for an approval the current principal may give (--all: every one)."""
    async with connect(args.settings) as session:
        me = session.settings.principal
        runs, found = Runs(session.js), []
        for entry in await waiting(session.js):
            state = await runs.get(entry.run_id)
            if state is None or state.state != WAITING:
                continue  # answered meanwhile; the workflow tidies the list
            if args.all or _mine(entry, me):
                found.append(entry)
    if args.json:
        print_json(found)
        return 0
    if not found:
        print("nothing waits for your approval" + ("" if args.all else " (--all: for anyone)"))
        return 0
    now = utcnow()
    for entry in found:
        left = max((entry.expires_at - now).total_seconds() / 3600, 0)
        print(f"run {entry.run_id} of job {entry.job_id} ({entry.trigger})")
        print(f"  asked for by {entry.requested_by or '-'}: {entry.reason}")
        if entry.keys is not None:
            print(f"  only the objects {', '.join(entry.keys)}")
        if entry.counts is not None and entry.plan_hash:
            c = entry.counts
            print(
                f"  plan {entry.plan_hash[:12]}: {c.create} create, {c.update} update, "
                f"{c.delete} delete, {c.disable} disable, {c.move} move"
            )
        who = ", ".join(entry.approvers) or "anyone"
        print(f"  approvers: {who}; expires in {left:.1f} h ({entry.expires_at:%Y-%m-%d %H:%M})")
        run = entry.run_id
        print(f"  `idsync run approve {run}` or `idsync run deny {run} --reason …`")
    return 0


def _mine(entry: Waiting, me: str) -> bool:
    if same(entry.requested_by, me) and entry.approvers:
        return False  # nobody approves their own request
    return not entry.approvers or any(same(me, a) for a in entry.approvers)
