"""Who is signed in to the portal: accounts, sessions that expire, and a limit on failed
sign-ins.

- **Local accounts** are the people of the server (`idsync user add ada`): their password
  is checked against the bcrypt hash in IDSYNC_HOME/users.json (services/common/tokens.py).
- **A directory**: with IDSYNC_PORTAL_LDAP naming an ldap or ad connection, anyone else
  signs in by binding to it as themselves (directory.py).
- **Systems** send their token (`Authorization: Bearer crm:<password>`) with each request;
  they never have a session.

A session is a random id in an HttpOnly cookie, kept in this process's memory with its
own CSRF token; it lapses after IDSYNC_PORTAL_SESSION_MINUTES without use.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import msgspec

from core.errors import Refused
from schemas.ids import is_slug
from services.common.settings import Settings
from services.common.store import Store
from services.common.tokens import Tokens

from .directory import bind_as

Clock = Callable[[], float]

PER_NAME = 5
"""Failed sign-ins allowed for one name within WINDOW seconds..."""
PER_ADDRESS = 20
"""...and from one address (several people may come through one proxy)."""
WINDOW = 300.0


class Signed(msgspec.Struct, kw_only=True):
    principal: str
    via: str
    """local, directory or token."""
    csrf: str = ""
    expires: float = 0.0


class Sessions:
    def __init__(self, minutes: float, clock: Clock = time.monotonic) -> None:
        self.lifetime = minutes * 60
        self.clock = clock
        self._open: dict[str, Signed] = {}

    def open(self, principal: str, via: str) -> tuple[str, Signed]:
        self._sweep()
        session_id = secrets.token_urlsafe(32)
        signed = Signed(
            principal=principal,
            via=via,
            csrf=secrets.token_urlsafe(32),
            expires=self.clock() + self.lifetime,
        )
        self._open[session_id] = signed
        return session_id, signed

    def find(self, session_id: str) -> Signed | None:
        """The session, its lifetime renewed by the use; None once it has lapsed."""
        signed = self._open.get(session_id)
        if signed is None:
            return None
        now = self.clock()
        if signed.expires <= now:
            del self._open[session_id]
            return None
        signed.expires = now + self.lifetime
        return signed

    def close(self, session_id: str) -> None:
        self._open.pop(session_id, None)

    def _sweep(self) -> None:
        now = self.clock()
        for session_id in [k for k, s in self._open.items() if s.expires <= now]:
            del self._open[session_id]


class Throttle:
    """At most PER_NAME failed sign-ins for a name, PER_ADDRESS from an address, in
    WINDOW seconds; then none is heard until the oldest failure is WINDOW old."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._failures: dict[str, list[float]] = {}

    def wait(self, name: str, address: str) -> float:
        """Seconds before another attempt is heard (0: now)."""
        now = self.clock()
        longest = 0.0
        for key, allowed in ((f"name:{name}", PER_NAME), (f"address:{address}", PER_ADDRESS)):
            recent = [t for t in self._failures.get(key, []) if t > now - WINDOW]
            self._failures[key] = recent
            if len(recent) >= allowed:
                longest = max(longest, recent[-allowed] + WINDOW - now)
        return longest

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        for key in (f"name:{name}", f"address:{address}"):
            self._failures.setdefault(key, []).append(now)


class Accounts:
    """Checks a name and password: a local account first, then the directory."""

    def __init__(self, settings: Settings, store: Store, tokens: Tokens) -> None:
        self.settings = settings
        self.store = store
        self.tokens = tokens

    async def check(self, user: str, password: str) -> tuple[str, str] | None:
        """(principal, how) for a right name and password, else None."""
        principal = user.strip().lower()
        if not is_slug(principal) or not password:
            return None
        if self.tokens.knows(principal):
            # A user of the server signs in with their own password only: a directory
            # entry of the same name is someone else's to vouch for.
            return (principal, "local") if await self.tokens.person(principal, password) else None
        directory = self.settings.portal_ldap
        if directory is None:
            return None
        connection = await self.store.connection(directory)
        if await bind_as(connection, self.settings.portal_ldap_user, principal, password):
            return principal, "directory"
        return None

    async def system(self, token: str) -> str:
        """The system user whose token this is; Refused otherwise."""
        principal = await self.tokens.principal(token, self.tokens.systems())
        if principal is None:
            raise Refused("the token is no system user's (`idsync user add NAME --system`)")
        return principal
