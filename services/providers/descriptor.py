"""What a provider package exports (as `PROVIDER`) for the registry to read.

A descriptor names the connection type the provider serves, its facts (pure: what the
checks of jobs and connections need, core/checks/facts.py), how to open it for one side
of a job and how to test a connection's reach. `open` and `reach` import the package's
working modules when they are called, so loading the registry imports neither ldap3 nor
aiosqlite.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from core.checks.facts import ProviderFacts
from schemas.connections import Connection
from schemas.jobs import Endpoint

from .base import Layout, Provider

C = TypeVar("C", bound=Connection)


@dataclass(frozen=True, kw_only=True)
class Descriptor(Generic[C]):
    connection: type[C]
    """The connection type (`schemas.connections`) whose `provider` tag this serves."""
    facts: ProviderFacts
    open: Callable[[C, Endpoint, Layout], Provider]
    """The provider for one side of a job, not opened yet (call `open` next). Raises
    BadInput, naming the setting to add, when the endpoint lacks what it needs."""
    reach: Callable[[C, Sequence[str]], Awaitable[str]]
    """`idsync connection test` and `doctor`: a sentence saying what was found, or
    Unreachable saying what is wrong. The second argument: the jobs that write to the
    connection, for which a destination that cannot be written is WriteFailed (from the
    CLI, `reach.Writer`s: each job's id with the sides it writes, for a provider that can
    ask the server what the login may do to each)."""

    @property
    def tag(self) -> str:
        return self.facts.tag
