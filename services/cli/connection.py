"""`idsync connection apply|add|list|test`: where the data lives.

The checks and the providers are imported by the commands that use them: `connection
list` starts without them."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

from core.errors import BadInput
from schemas.connections import Connection

from .client import connect
from .output import print_json, print_table


async def connection_apply(args: argparse.Namespace) -> int:
    from core.checks.connections import check_connections
    from services.common.definitions import load_connections
    from services.providers import FACTS

    path = Path(args.file)
    connections = load_connections(path)
    check_connections(connections, FACTS, origin=str(path))
    async with connect(args.settings) as session:
        await session.apply_connections(connections)
    if args.json:
        print_json(connections)
    else:
        for connection in connections:
            print(f"applied connection {connection.id} ({_provider(connection)})")
    return 0


def _connections_from(args: argparse.Namespace) -> list[Connection]:
    """The connection `idsync connection add` describes, checked as a file's would be
    (relative paths taken from the current folder, as a shell user expects)."""
    from core.checks.connections import check_connections
    from services.common.definitions import connections_from
    from services.providers import FACTS

    table: dict[str, object] = {"provider": args.provider}
    for pair in args.set or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise BadInput(f"--set {pair!r}: expected NAME=VALUE, e.g. --set directory=/srv/hr")
        table[name.strip()] = _setting(name.strip(), value)
    origin = "connection add"
    connections = connections_from({args.id: table}, origin, Path.cwd(), strict=False)
    check_connections(connections, FACTS, origin=origin)
    return connections


async def connection_add(args: argparse.Namespace) -> int:
    """One connection from options, checked as `connection apply` checks a file's."""
    connections = _connections_from(args)
    async with connect(args.settings) as session:
        await session.apply_connections(connections)
    print(f"added connection {args.id} ({args.provider})")
    return 0


def _setting(name: str, text: str) -> object:
    """A --set value: TOML when it starts a list or a table (`urls=["ldaps://dc1"]`,
    `password={ env = "LDAP_PASSWORD" }`), else text (read as a number or true/false
    where the setting is one)."""
    if not text.lstrip().startswith(("[", "{")):
        return text
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError as error:
        raise BadInput(f"--set {name}={text}: not a TOML list or table ({error})") from None


async def connection_list(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        connections = await session.store.connections()
    if args.json:
        print_json(connections)
        return 0
    if not connections:
        print("no connections yet: `idsync connection apply connections.toml` adds some")
        return 0
    rows = [(c.id, _provider(c), c.title, _where(c)) for c in connections]
    print_table(rows, ("ID", "PROVIDER", "TITLE", "WHERE"))
    return 0


async def connection_test(args: argparse.Namespace) -> int:
    from services.providers import check_reachable
    from services.providers.reach import writers

    async with connect(args.settings) as session:
        connection = await session.store.connection(args.id)
        jobs = await session.store.jobs()
    message = await check_reachable(connection, writers(jobs, args.id))
    if args.json:
        print_json({"id": args.id, "ok": True, "message": message})
    else:
        print(f"{args.id}: ok — {message}")
    return 0


def _provider(connection: Connection) -> str:
    return str(connection.__struct_config__.tag)


def _where(connection: Connection) -> str:
    return str(getattr(connection, "directory", None) or getattr(connection, "path", ""))
