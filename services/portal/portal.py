"""The portal's state: the services' connection, sign-ins, and a client session in the
name of whoever asks."""

from __future__ import annotations

import time

import msgspec

from services.common.bus import Bus
from services.common.client import Session
from services.common.tokens import Tokens

from .followed import Catalogue
from .signin import Accounts, Clock, Sessions, Throttle


class Portal:
    def __init__(self, bus: Bus, clock: Clock = time.monotonic) -> None:
        self.bus = bus
        self.settings = bus.settings
        self.tokens = Tokens(self.settings.home)
        self.sessions = Sessions(self.settings.portal_session_minutes, clock)
        self.throttle = Throttle(clock)
        self.accounts = Accounts(self.settings, bus.store, self.tokens)
        self.catalogue = Catalogue(bus.js)
        """The jobs and connections, read once and followed (each request reads memory)."""

    def session(self, principal: str) -> Session:
        """A client as `principal`: commands go out on `idsync.cmd.<principal>.<verb>`,
        and the workflow decides what they may do — exactly as with the command line."""
        settings = msgspec.structs.replace(self.settings, principal=principal)
        return Session(self.bus.broker.connection, settings, user=principal)
