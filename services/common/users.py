"""The users of the embedded server: one per service, one per person, kept under
IDSYNC_HOME and written into the server's configuration.

`IDSYNC_HOME/users.json` holds each user's bcrypt hash, and for people their groups
(approvers name groups) and whether they are another system (their run requests are
`external`). The clear passwords are only in the credentials files (credentials.py).
`IDSYNC_HOME/nats/auth.conf` is what nats-server reads; a running server is told to
read it again with SIGHUP, sent to the pid in its pid file.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import bcrypt
import msgspec

from core.errors import BadInput, NotFound
from schemas.ids import is_slug

from . import access
from .credentials import (
    Credentials,
    new_password,
    person_file,
    service_file,
    write_credentials,
)

USERS_FILE = "users.json"
AUTH_FILE = "auth.conf"
ROUNDS = 10  # bcrypt cost: ~60 ms a hash here, checked once per connection


class Person(msgspec.Struct, kw_only=True):
    hash: str
    groups: list[str] = msgspec.field(default_factory=list)
    system: bool = False
    """Another system, not a person: its run requests are `external`."""


class Users(msgspec.Struct, kw_only=True):
    services: dict[str, str] = msgspec.field(default_factory=dict)
    """Service name → bcrypt hash."""
    people: dict[str, Person] = msgspec.field(default_factory=dict)

    def members(self, group: str) -> list[str]:
        return sorted(p for p, person in self.people.items() if group in person.groups)


def users_path(home: Path) -> Path:
    return home / USERS_FILE


def auth_path(home: Path) -> Path:
    return home / "nats" / AUTH_FILE


def load(home: Path) -> Users:
    path = users_path(home)
    if not path.is_file():
        return Users()
    try:
        return msgspec.json.decode(path.read_bytes(), type=Users)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise BadInput(f"{path}: not a users file idsync wrote ({error}); restore it") from None


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=ROUNDS)).decode()


def _save(home: Path, users: Users) -> None:
    home.mkdir(parents=True, exist_ok=True)
    _write_private(users_path(home), msgspec.json.format(msgspec.json.encode(users)))
    _write_private(auth_path(home), render(users).encode())


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    path.chmod(0o600)


def check_principal(principal: str) -> None:
    if not is_slug(principal):
        raise BadInput(f"{principal!r} is not a valid principal: use a-z, 0-9, _ and -")
    if principal in access.RESERVED or principal.startswith("idsync"):
        raise BadInput(f"{principal!r} is reserved for the services: choose another name")


def prepare(home: Path, principal: str) -> Users:
    """What `idsync up` needs: a user for each service and one for the person starting it
    (each with a credentials file), and the server's configuration."""
    users = load(home)
    for name in access.SERVICE_USERS:
        path = service_file(home, name)
        if name not in users.services or not path.is_file():
            password = new_password()
            write_credentials(path, Credentials(user=access.SERVICE_USERS[name], password=password))
            users.services[name] = _hash(password)
    if principal not in users.people or not person_file(home, principal).is_file():
        check_principal(principal)
        _new_person(home, users, principal, groups=[], system=False)
    _save(home, users)
    return users


def _new_person(home: Path, users: Users, principal: str, groups: list[str], system: bool) -> str:
    password = new_password()
    write_credentials(person_file(home, principal), Credentials(user=principal, password=password))
    users.people[principal] = Person(hash=_hash(password), groups=groups, system=system)
    return password


def add_person(home: Path, principal: str, groups: list[str], system: bool) -> str:
    """Add (or give a new password to) a person; their password, also in their file."""
    check_principal(principal)
    for group in groups:
        if not is_slug(group):
            raise BadInput(f"group {group!r} is not valid: use a-z, 0-9, _ and -")
    users = load(home)
    password = _new_person(home, users, principal, sorted(set(groups)), system)
    _save(home, users)
    return password


def remove_person(home: Path, principal: str) -> None:
    users = load(home)
    if users.people.pop(principal, None) is None:
        raise NotFound(f"no user {principal!r}: `idsync user list` shows them")
    person_file(home, principal).unlink(missing_ok=True)
    _save(home, users)


def render(users: Users) -> str:
    """nats-server's `authorization` block (JSON is valid server configuration)."""
    entries = [
        _entry(access.SERVICE_USERS[name], digest, access.service(name))
        for name, digest in sorted(users.services.items())
    ]
    entries += [
        _entry(principal, person.hash, access.person(principal))
        for principal, person in sorted(users.people.items())
    ]
    block = json.dumps({"users": entries}, indent=2)
    header = "# Written by idsync (services/common/users.py): edit with `idsync user`."
    return f"{header}\nauthorization {block}\n"


def _entry(user: str, digest: str, permissions: access.Permissions) -> dict[str, object]:
    allowed: dict[str, object] = {
        "publish": {"allow": permissions.publish},
        "subscribe": {"allow": permissions.subscribe},
    }
    if permissions.responses:
        allowed["allow_responses"] = True
    return {"user": user, "password": digest, "permissions": allowed}


def reload_server(home: Path) -> bool:
    """Tell the embedded server under `home` to read its configuration again (SIGHUP by
    the pid it wrote). False when none is running there."""
    pid_file = home / "nats" / "nats.pid"
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)  # is it there at all?
    except (OSError, ValueError):
        return False
    command = Path(f"/proc/{pid}/cmdline")
    if command.parent.is_dir() and b"nats-server" not in command.read_bytes():
        return False  # a pid reused by another program: leave it alone
    os.kill(pid, signal.SIGHUP)
    return True
