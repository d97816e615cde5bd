"""Connections: where the data lives. One Struct per provider, tagged by `provider`.

Secrets are references (an environment variable or a file), never values.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class SecretRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where a secret is read from at the moment it is needed."""

    env: str | None = None
    file: str | None = None


class _Connection(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="provider"
):
    id: str = ""
    title: str = ""
    owners: list[str] = msgspec.field(default_factory=list)
    """Principals who alone may change the connection (core/checks/ownership.py);
    a job that lists owners uses only connections that list some."""
    site: str = ""
    """The site (a network only its own runners reach, through a NATS leaf node) where
    this connection's system lives; empty: the central network. A job using it is
    planned and applied only by runners started with IDSYNC_SITE set to it."""


class CsvConnection(_Connection, tag="csv", frozen=True):
    """A folder of delimited text files."""

    directory: str
    delimiter: str = ","
    quote_char: str = '"'
    encoding: str = "utf-8"


class ExcelConnection(_Connection, tag="excel", frozen=True):
    """A folder of Excel workbooks (.xlsx): a job's side is a sheet of one of them
    (services/providers/excel/)."""

    directory: str


class SqliteConnection(_Connection, tag="sqlite", frozen=True):
    """A SQLite database file (created when missing)."""

    path: str


class LdapTimeouts(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Seconds to wait for a server."""

    connect: float = 10.0
    """To open a connection (each URL in turn)."""
    operation: float = 60.0
    """For one answer (a page of a search, the result of a write)."""


class LdapConnection(_Connection, tag="ldap", frozen=True):
    """An LDAP v3 directory (OpenLDAP, 389-DS, Active Directory…), simple bind."""

    urls: list[str]
    """ldap://host:389 or ldaps://host:636; when one cannot be reached the next is tried."""
    bind_dn: str = ""
    """Who to bind as; empty binds anonymously."""
    password: SecretRef | None = None
    """The bind password: { env = "VAR" } or { file = "path" }, read when connecting."""
    tls: Literal["none", "starttls", "ldaps"] = "none"
    """none: plain LDAP; starttls: upgrade ldap:// before binding; ldaps: TLS from the start."""
    ca_file: str | None = None
    """PEM file of the certificate authorities to trust (default: the system's)."""
    verify: bool = True
    """Check the server's certificate and name; false only for tests."""
    timeouts: LdapTimeouts = msgspec.field(default_factory=LdapTimeouts)
    page_size: int = 1000
    """Entries per page of a paged search."""
    pool_size: int = 4
    """Connections that write concurrently."""


class ActiveDirectoryConnection(LdapConnection, tag="ad", frozen=True):
    """Active Directory (or a Samba AD domain controller): an LDAP directory that wants TLS
    for binds and passwords, binds as `user@REALM` or a DN, and knows users, contacts,
    groups and OUs (services/providers/ad/)."""

    tls: Literal["none", "starttls", "ldaps"] = "ldaps"
    """ldaps (default) or starttls; "none" is refused: AD sets passwords over TLS only."""


class PostgresqlTimeouts(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Seconds to wait for a PostgreSQL server."""

    connect: float = 10.0
    """To connect and log in."""
    statement: float = 300.0
    """For one statement (a batch of reads, one set-based write)."""


class PostgresqlConnection(_Connection, tag="postgresql", frozen=True):
    """A PostgreSQL database (services/providers/postgresql/): one table per job side."""

    database: str
    user: str
    host: str = "localhost"
    """A host name or address; a path (starting with /) is the folder of a Unix socket."""
    port: int = 5432
    password: SecretRef | None = None
    """{ env = "VAR" } or { file = "path" }, read when connecting; none for trust or peer."""
    sslmode: Literal["disable", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    """As libpq's: verify-ca checks the certificate, verify-full its host name too."""
    ca_file: str | None = None
    """PEM file of the certificate authorities to trust (verify-ca, verify-full)."""
    timeouts: PostgresqlTimeouts = msgspec.field(default_factory=PostgresqlTimeouts)
    pool_size: int = 4
    """Connections a runner keeps open to the database, shared by the batches it writes
    (up to four at once) and the reads it makes; opened as they are needed."""


class MysqlTimeouts(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Seconds to wait for a MySQL or MariaDB server."""

    connect: float = 10.0
    """To connect and log in."""
    statement: float = 300.0
    """For one answer (a batch of reads, one set-based write)."""


class MysqlConnection(_Connection, tag="mysql", frozen=True):
    """A MySQL or MariaDB database (services/providers/mysql/): one table per job side."""

    database: str
    user: str
    host: str = "localhost"
    """A host name or address; a path (starting with /) is the server's Unix socket."""
    port: int = 3306
    password: SecretRef | None = None
    """{ env = "VAR" } or { file = "path" }, read when connecting."""
    tls: Literal["disable", "require", "verify-ca", "verify-full"] = "disable"
    """require: encrypted, certificate not checked; verify-ca checks it, verify-full its
    host name too."""
    ca_file: str | None = None
    """PEM file of the certificate authorities to trust (verify-ca, verify-full)."""
    timeouts: MysqlTimeouts = msgspec.field(default_factory=MysqlTimeouts)
    pool_size: int = 4
    """Connections a runner keeps open to the database, shared by the batches it writes
    (up to four at once) and the reads it makes; opened as they are needed."""


class EntraLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How hard Microsoft Graph is asked: the client keeps under these rates itself and
    honours Graph's own throttling (429 and Retry-After) when it answers."""

    writes_per_second: float = 20.0
    """Writes (POST, PATCH, PUT, DELETE, each request of a $batch counted) per second:
    Graph allows an application 3,000 writes per 150 seconds in one tenant."""
    requests_per_second: float = 300.0
    """Every request (reads too) per second, under Graph's per-app quota (3,500 resource
    units per 10 seconds in the smallest tenants)."""
    concurrency: int = 4
    """HTTP requests (a page, a $batch of up to 20) in flight at once."""
    attempts: int = 8
    """Tries of one request Graph throttles (429) or cannot serve now (503, 504) before the
    record it belongs to fails, with Graph's error."""
    timeout: float = 60.0
    """Seconds to wait for one answer."""


class EntraConnection(_Connection, tag="entra", frozen=True):
    """Microsoft Entra ID through Microsoft Graph (services/providers/entra/): users and
    groups of one tenant, as an application signed in with client credentials (msal)."""

    tenant: str
    """The tenant's id or one of its domains ("contoso.onmicrosoft.com")."""
    client_id: str
    """The application (client) id of the app registration."""
    secret: SecretRef | None = None
    """A client secret: { env = "VAR" } or { file = "path" }, read when signing in."""
    certificate: SecretRef | None = None
    """Instead of a secret: a PEM file (or variable) holding the app's certificate and its
    private key."""
    authority: str = "https://login.microsoftonline.com"
    """Where the app signs in: national clouds have their own
    (https://login.microsoftonline.us, https://login.chinacloudapi.cn)."""
    graph: str = "https://graph.microsoft.com"
    """The Graph endpoint of that cloud (https://graph.microsoft.us,
    https://microsoftgraph.chinacloudapi.cn)."""
    ca_file: str | None = None
    """PEM file of the certificate authorities to trust (default: the system's)."""
    member_key: str = "userPrincipalName"
    """The user property that names a group's members and a user's manager in records."""
    page_size: int = 999
    """Objects per page of a read (Graph allows 1 to 999)."""
    limits: EntraLimits = msgspec.field(default_factory=EntraLimits)


class PluginConnection(_Connection, tag="plugin", frozen=True):
    """A provider of your own: a callable in an installed module, given this connection,
    the endpoint and the layout, returning an object that follows the provider protocol
    (services/providers/base.py). Every runner must have the module installed."""

    factory: str
    """"package.module:callable", e.g. "acme_idsync.hr:HrProvider"."""
    options: dict[str, str | int | float | bool] = msgspec.field(default_factory=dict)
    """Settings the provider reads as it likes (no secrets: use environment variables)."""
    actions: list[Literal["create", "update", "delete", "disable", "move", "enable"]] = (
        msgspec.field(default_factory=lambda: ["create", "update", "delete"])
    )
    """What it can apply to a destination object."""


class ScimOAuth(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """OAuth 2.0 client credentials: a token asked of `token_url`, kept until it expires."""

    token_url: str
    client_id: str
    client_secret: SecretRef
    """{ env = "VAR" } or { file = "path" }, read when a token is asked for."""
    scope: str | None = None


class ScimConnection(_Connection, tag="scim", frozen=True):
    """A SCIM 2.0 service (RFC 7643/7644): its users, groups and other resource types
    (services/providers/scim/)."""

    url: str
    """The service's base URL, the one /ServiceProviderConfig and /Users are below
    (https://example.org/scim/v2)."""
    token: SecretRef | None = None
    """A bearer token: { env = "VAR" } or { file = "path" }, read when connecting."""
    oauth: ScimOAuth | None = None
    """Or OAuth 2.0 client credentials, which give the bearer tokens."""
    ca_file: str | None = None
    """PEM file of the certificate authorities to trust (default: the system's)."""
    verify: bool = True
    """Check the server's certificate and name; false only for tests."""
    timeout: float = 30.0
    """Seconds to wait for one answer."""
    page_size: int = 200
    """Resources asked for per page of a read (the service's filter.maxResults caps it)."""
    concurrency: int = 4
    """Requests in flight at once while writing."""
    bulk: bool = True
    """Write through /Bulk when the service offers it."""
    max_wait: float = 120.0
    """Seconds one request may wait on a service that says to slow down (429 or 503 with
    Retry-After); past it the batch is retried later."""
    requests_per_second: float | None = None
    """The most requests a second, on average, this process sends the service (reads,
    writes, a /Bulk each count one; a second's worth may go at once): keep under the
    service's documented rate limit instead of meeting its 429s. None: no ceiling."""


class ScimInboundConnection(_Connection, tag="scim-inbound", frozen=True):
    """Records other systems push to idsync's SCIM endpoint (services/scim_endpoint/): a
    source only, holding the latest record pushed for each user. A push to a job reading
    it becomes a run of that job scoped to the users pushed."""

    systems: list[str]
    """The system users (`idsync user add NAME --system`) whose tokens may push here."""


Connection = (
    CsvConnection
    | ExcelConnection
    | SqliteConnection
    | LdapConnection
    | ActiveDirectoryConnection
    | PostgresqlConnection
    | MysqlConnection
    | EntraConnection
    | PluginConnection
    | ScimConnection
    | ScimInboundConnection
)

PROVIDERS: tuple[str, ...] = tuple(
    str(cls.__struct_config__.tag)
    for cls in (
        CsvConnection,
        ExcelConnection,
        SqliteConnection,
        LdapConnection,
        ActiveDirectoryConnection,
        PostgresqlConnection,
        MysqlConnection,
        ScimConnection,
        ScimInboundConnection,
        EntraConnection,
        PluginConnection,
    )
)

# Fields that name a file or folder: relative paths are made absolute when applied.
PATH_FIELDS: dict[str, tuple[str, ...]] = {
    "csv": ("directory",),
    "excel": ("directory",),
    "sqlite": ("path",),
    "ldap": ("ca_file",),
    "ad": ("ca_file",),
    "postgresql": ("ca_file",),
    "mysql": ("ca_file",),
    "scim": ("ca_file",),
    "entra": ("ca_file",),
}
