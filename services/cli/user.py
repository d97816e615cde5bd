"""`idsync user add|list|remove`: the people (and other systems) of the embedded server."""

from __future__ import annotations

import argparse

from services.common import access, users
from services.common.credentials import person_file
from services.common.settings import Settings

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
    if args.system:
        print(f"  SCIM endpoint token: {args.principal}:{password} (docs/providers/scim.md)")
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
