"""Who a bearer token is: a system user's password (`idsync user add crm --system`), sent
as `crm:<password>` or as the password alone (then tried for each system the job's
connection lists); and whether a person's password is theirs (the portal's local
accounts). Checked against the bcrypt hashes `idsync up` keeps in
IDSYNC_HOME/users.json — the same the NATS server checks — and remembered for a while
(a bcrypt check costs ~60 ms), until the users file changes."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import bcrypt

from . import users

KEEP = 300.0
"""Seconds a checked token is trusted without checking it again."""


class Tokens:
    def __init__(self, home: Path) -> None:
        self.home = home
        self._users: users.Users | None = None
        self._stamp: float | None = None
        self._trusted: dict[tuple[str, str], float] = {}

    def _current(self) -> users.Users:
        path = users.users_path(self.home)
        stamp = path.stat().st_mtime if path.is_file() else None
        if self._users is None or stamp != self._stamp:
            self._users, self._stamp = users.load(self.home), stamp
            self._trusted.clear()
        return self._users

    async def principal(self, token: str, allowed: Sequence[str]) -> str | None:
        """The system user among `allowed` whose token this is, else None."""
        named, colon, password = token.partition(":")
        candidates = [named] if colon and named in allowed else list(allowed)
        secret = password if colon and named in allowed else token
        digest = hashlib.sha256(secret.encode()).hexdigest()
        known = self._current()
        now = time.monotonic()
        for principal in candidates:
            person = known.people.get(principal)
            if person is None or not person.system:
                continue
            if self._trusted.get((principal, digest), 0.0) > now:
                return principal
            matches = await asyncio.to_thread(bcrypt.checkpw, secret.encode(), person.hash.encode())
            if matches:
                self._trusted[(principal, digest)] = now + KEEP
                return principal
        return None

    def knows(self, principal: str) -> bool:
        """Whether `principal` is a user of the server (a person or a system)."""
        return principal in self._current().people

    def systems(self) -> list[str]:
        """The system users there are."""
        return sorted(name for name, person in self._current().people.items() if person.system)

    async def person(self, principal: str, password: str) -> bool:
        """Whether `password` is the password of the person (not a system) `principal`."""
        person = self._current().people.get(principal)
        if person is None or person.system or not password:
            return False
        digest = hashlib.sha256(password.encode()).hexdigest()
        now = time.monotonic()
        if self._trusted.get((principal, digest), 0.0) > now:
            return True
        if await asyncio.to_thread(bcrypt.checkpw, password.encode(), person.hash.encode()):
            self._trusted[(principal, digest)] = now + KEEP
            return True
        return False
