"""What the checks need to know of a provider, handed to them as data: `ProviderFacts`.

Each provider package (services/providers/<tag>/) declares its facts in its descriptor,
and the registry (services/providers/__init__.py) maps every `connection.provider` tag
to them; the callers of `check_job` pass that mapping in, so the checks never import a
provider. Facts are pure: values and functions of schemas' structs, which read no file
and open no connection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from schemas.connections import Connection
from schemas.jobs import Endpoint, ObjectMapping
from schemas.plan import Action

Problem = tuple[str, str]
"""(field path, what is wrong: "expected ..., got ...")."""
Report = Callable[[str, str], None]
"""Takes one problem: (field path, what is wrong)."""

BASIC: frozenset[Action] = frozenset({"create", "update", "delete"})
"""What every writable provider does (files and tables cannot disable or move a row)."""

DIRECTORY_SCOPE: tuple[tuple[str, ...], str] = (
    ("query", "object_classes", "container"),
    '{ object_classes = ["groupOfNames"] } or { query = "(objectClass=groupOfNames)" }',
)
"""What narrows a directory's side to one object type's records, and an example."""


def _nothing_more(endpoint: Endpoint, mapping: ObjectMapping) -> frozenset[str]:
    return frozenset()


def _every_object(endpoint: Endpoint, mapping: ObjectMapping) -> bool:
    return True


ACCOUNT_ACTIONS = frozenset({"disable", "enable"})
"""What only objects with an account allow, where a side holds other kinds too."""


def _no_problems(value: object) -> list[Problem]:
    return []


@dataclass(frozen=True, kw_only=True)
class ProviderFacts:
    """What a provider is, as far as the checks of jobs and connections care."""

    tag: str
    """The `connection.provider` tag ("csv", "ldap", …)."""
    actions: frozenset[Action] = BASIC
    """What it can apply to a destination's objects."""
    actions_of: Callable[[Connection], frozenset[str]] | None = None
    """For a provider whose connections say what they apply (a plugin's `actions`)."""
    one_object_type: bool = False
    """A side holds one kind of record (a file, a table): a job writing there has one
    [[objects]] entry."""
    own_scope: tuple[tuple[str, ...], str] = DIRECTORY_SCOPE
    """The endpoint fields that narrow a side to one object type's records, and an
    example of them: two types of one job must differ in them."""
    native_changes: bool = False
    """It marks what changed itself (modifyTimestamp, uSNChanged): incremental runs need
    no change field."""
    mandatory: Callable[[Endpoint, ObjectMapping], frozenset[str]] = _nothing_more
    """The fields a new object of the mapping needs besides its keys."""
    read_only: Callable[[Endpoint, ObjectMapping], frozenset[str]] = _nothing_more
    """The fields (in lower case) the destination sets itself and never takes from a
    job (Graph's proxyAddresses): mapped there, each would be an update every run."""
    check_connection: Callable[[Connection], list[Problem]] = _no_problems
    """What is wrong with a connection of this provider that decoding cannot see; fields
    relative to the connection's table ("urls[0]", "delimiter")."""
    check_endpoint: Callable[[Endpoint], list[Problem]] = _no_problems
    """What is wrong with a job's side on this provider; fields relative to the side
    ("file", "query")."""
    accounts: Callable[[Endpoint, ObjectMapping], bool] = _every_object
    """Whether a type's objects on a side have an account to disable and enable: users,
    not a directory's groups or contacts (False: disable and enable are not theirs)."""

    def can(self, connection: Connection) -> frozenset[str]:
        """What a destination on this connection can apply."""
        if self.actions_of is not None:
            return self.actions_of(connection)
        return frozenset(self.actions)

    def can_for(
        self, connection: Connection, endpoint: Endpoint, mapping: ObjectMapping
    ) -> frozenset[str]:
        """What a destination on this connection can apply to one type's objects, on its
        side (`endpoint`, the type's own scope put over the job's)."""
        can = self.can(connection)
        return can if self.accounts(endpoint, mapping) else can - ACCOUNT_ACTIONS


def provider_of(connection: Connection) -> str:
    """A connection's `provider` tag."""
    return str(type(connection).__struct_config__.tag)


def facts_of(connection: Connection, facts: Mapping[str, ProviderFacts]) -> ProviderFacts:
    """The facts of a connection's provider; a provider nobody described gets the basic
    ones (create, update, delete; a directory's scope; no checks of its own)."""
    tag = provider_of(connection)
    return facts.get(tag) or ProviderFacts(tag=tag)
