"""Provider harnesses: one small class per provider, so the contract suite runs on each.

A harness makes a provider for a fresh, not-yet-existing side of a job and can seed
that side natively (without the provider under test), so reading is checked against
data the provider did not write itself. To add a provider: write a harness class
and list it in HARNESSES.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import sys
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar, Generic, Literal, TypeVar

import ldap3
import openpyxl
import pytest

from schemas.connections import (
    ActiveDirectoryConnection,
    CsvConnection,
    ExcelConnection,
    LdapConnection,
    PluginConnection,
    ScimConnection,
    SecretRef,
    SqliteConnection,
)
from schemas.jobs import Endpoint
from schemas.plan import Action, Change
from schemas.values import Record, Value, as_text
from services.providers import open_provider
from services.providers.base import Layout, Outcome, Provider, Staging
from tests.ad_server import ADMIN, URL, Samba
from tests.ad_server import ADMIN_PASSWORD as AD_PASSWORD
from tests.contract.renamed import Renamed
from tests.ldap_server import ADMIN_DN, ADMIN_PASSWORD, Slapd
from tests.mysql_server import Server as MysqlServer
from tests.postgresql_server import Server
from tests.scim_server import TOKEN, ScimServer
from tests.scim_server import client as scim_client
from tests.sql_servers import sql_connection

S = TypeVar("S")


class ProviderHarness:
    """One provider's side of a job in a temporary folder."""

    name: ClassVar[str]
    unsupported: ClassVar[tuple[Action, ...]] = ("disable", "move")
    """Actions the provider reports as an outcome error instead of applying."""
    ignored: ClassVar[tuple[str, ...]] = ()
    """Fields the provider adds to every record it reads (an LDAP entry's dn and
    objectClass): the suite compares records without them."""
    keeps_order: ClassVar[bool] = True
    """Whether a multi-valued field's values read back in the order written; False where
    the side keeps none (SCIM), and reads and compares them sorted."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    @classmethod
    def create(cls, request: pytest.FixtureRequest, tmp_path: Path) -> ProviderHarness:
        """The harness for one test (a server-backed one takes its fixtures here)."""
        return cls(tmp_path)

    def as_read(self, records: list[Record]) -> list[Record]:
        """The records as the side reads them back: multi-valued fields sorted where it
        keeps no order."""
        if self.keeps_order:
            return records
        return [{k: sorted(v) if isinstance(v, list) else v for k, v in r.items()} for r in records]

    def prepare(self) -> None:
        """What a destination needs before its first write and the provider does not make
        itself (a directory's container); nothing for files and tables."""

    def make(self, layout: Layout) -> Provider:
        """A provider for the side (not opened)."""
        raise NotImplementedError

    def seed(self, layout: Layout, records: list[Record]) -> None:
        """Create the side holding exactly these records, written natively."""
        raise NotImplementedError

    def exists(self) -> bool:
        """Whether the side (file, table) exists."""
        raise NotImplementedError


def _cell(layout: Layout, field: str, value: Value) -> str:
    return as_text(value, layout.multi_valued.get(field, ";"))


def _fields(layout: Layout, records: list[Record]) -> list[str]:
    fields = dict.fromkeys([*layout.keys, *layout.fields])
    for record in records:
        fields.update(dict.fromkeys(record))
    return list(fields)


class CsvHarness(ProviderHarness):
    name = "csv"

    @property
    def path(self) -> Path:
        return self.tmp_path / "people.csv"

    def make(self, layout: Layout) -> Provider:
        connection = CsvConnection(id="files", directory=str(self.tmp_path))
        return open_provider(connection, Endpoint(connection="files", file="people.csv"), layout)

    def seed(self, layout: Layout, records: list[Record]) -> None:
        fields = _fields(layout, records)
        with self.path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(fields)
            for record in records:
                writer.writerow(
                    [_cell(layout, n, record[n]) if n in record else "" for n in fields]
                )

    def exists(self) -> bool:
        return self.path.exists()


class ExcelHarness(ProviderHarness):
    """Sheet "People" of a workbook, seeded with openpyxl (values as text cells), written
    in place (the default mode)."""

    name = "excel"
    unsupported = ("move",)  # disable marks a row
    mode: ClassVar[Literal["update", "replace"]] = "update"

    @property
    def path(self) -> Path:
        return self.tmp_path / "people.xlsx"

    def make(self, layout: Layout) -> Provider:
        connection = ExcelConnection(id="books", directory=str(self.tmp_path))
        endpoint = Endpoint(connection="books", file="people.xlsx", sheet="People", mode=self.mode)
        return open_provider(connection, endpoint, layout)

    def seed(self, layout: Layout, records: list[Record]) -> None:
        fields = _fields(layout, records)
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "People"
        sheet.append(fields)
        for record in records:
            sheet.append([_cell(layout, n, record[n]) if n in record else None for n in fields])
        book.save(self.path)

    def exists(self) -> bool:
        return self.path.exists()


class ExcelReplaceHarness(ExcelHarness):
    """The same sheet written anew by every batch (mode = "replace")."""

    name = "excel-replace"
    mode = "replace"


class StagedExcel:
    """The Excel provider as the runner drives it: each batch staged beside the workbook
    (`stage`), then written by the end of the run (`finish`)."""

    def __init__(self, provider: Provider) -> None:
        assert isinstance(provider, Staging)
        self.provider = provider
        self.staging: Staging = provider

    async def open(self, *, write: bool) -> None:
        await self.provider.open(write=write)

    def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        return self.provider.read(batch_size)

    def canonical(self, record: Record) -> Record:
        return self.provider.canonical(record)

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        outcomes = await self.staging.stage(changes)
        await self.staging.finish()
        return outcomes

    async def close(self) -> None:
        await self.provider.close()


class ExcelStagedHarness(ExcelHarness):
    """The sheet written in place, each batch staged and written at the run's end."""

    name = "excel-staged"

    def make(self, layout: Layout) -> Provider:
        return StagedExcel(super().make(layout))


class ExcelReplaceStagedHarness(ExcelReplaceHarness):
    """The sheet written anew, each batch staged and written at the run's end."""

    name = "excel-replace-staged"

    def make(self, layout: Layout) -> Provider:
        return StagedExcel(super().make(layout))


class SqliteHarness(ProviderHarness):
    name = "sqlite"

    @property
    def path(self) -> Path:
        return self.tmp_path / "people.db"

    def make(self, layout: Layout) -> Provider:
        connection = SqliteConnection(id="db", path=str(self.path))
        return open_provider(connection, Endpoint(connection="db", table="people"), layout)

    def seed(self, layout: Layout, records: list[Record]) -> None:
        fields = _fields(layout, records)
        quoted = [f'"{n}"' for n in fields]
        with sqlite3.connect(self.path) as db:
            db.execute(f"CREATE TABLE people ({', '.join(q + ' TEXT' for q in quoted)})")
            db.executemany(
                f"INSERT INTO people ({', '.join(quoted)}) VALUES ({', '.join('?' * len(fields))})",
                [[_cell(layout, n, r[n]) if n in r else None for n in fields] for r in records],
            )
        db.close()

    def exists(self) -> bool:
        if not self.path.exists():
            return False
        with sqlite3.connect(self.path) as db:
            found = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'people'").fetchone()
        db.close()
        return found is not None


class PostgresqlHarness(ProviderHarness):
    """Table `people` in a database of the test's own on the session's PostgreSQL server
    (tests/postgresql_server.py), seeded with psql."""

    name = "postgresql"

    def __init__(self, tmp_path: Path, server: Server) -> None:
        super().__init__(tmp_path)
        self.server = server

    @classmethod
    def create(cls, request: pytest.FixtureRequest, tmp_path: Path) -> ProviderHarness:
        return cls(tmp_path, request.getfixturevalue("pg_database"))

    def make(self, layout: Layout) -> Provider:
        connection = sql_connection("postgresql", self.server, self.tmp_path, "pg")
        return open_provider(connection, Endpoint(connection="pg", table="people"), layout)

    def seed(self, layout: Layout, records: list[Record]) -> None:
        fields = _fields(layout, records)
        quoted = [f'"{n}"' for n in fields]
        rows = [
            "("
            + ", ".join(
                "'" + _cell(layout, n, r[n]).replace("'", "''") + "'" if n in r else "NULL"
                for n in fields
            )
            + ")"
            for r in records
        ]
        self.server.psql(
            f"CREATE TABLE people ({', '.join(q + ' text' for q in quoted)});"
            + (f"INSERT INTO people VALUES {', '.join(rows)};" if rows else "")
        )

    def exists(self) -> bool:
        return self.server.psql("SELECT to_regclass('people') IS NOT NULL").strip() == "t"


class MysqlHarness(ProviderHarness):
    """Table `people` in a database of the test's own on the session's MariaDB server
    (tests/mysql_server.py), seeded with the mariadb client."""

    name = "mysql"

    def __init__(self, tmp_path: Path, server: MysqlServer) -> None:
        super().__init__(tmp_path)
        self.server = server

    @classmethod
    def create(cls, request: pytest.FixtureRequest, tmp_path: Path) -> ProviderHarness:
        return cls(tmp_path, request.getfixturevalue("my_database"))

    def make(self, layout: Layout) -> Provider:
        connection = sql_connection("mysql", self.server, self.tmp_path, "my")
        return open_provider(connection, Endpoint(connection="my", table="people"), layout)

    def seed(self, layout: Layout, records: list[Record]) -> None:
        fields = _fields(layout, records)
        quoted = [f"`{n}`" for n in fields]

        def literal(text: str) -> str:
            return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"

        rows = [
            "("
            + ", ".join(literal(_cell(layout, n, r[n])) if n in r else "NULL" for n in fields)
            + ")"
            for r in records
        ]
        self.server.sql(
            f"CREATE TABLE people ({', '.join(q + ' text' for q in quoted)}) "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"
            + (f"INSERT INTO people VALUES {', '.join(rows)};" if rows else "")
        )

    def exists(self) -> bool:
        return self.server.sql("SHOW TABLES LIKE 'people'").strip() == "people"


class _DirectoryHarness(ProviderHarness, Generic[S]):
    """A side below `side` in the test's own subtree of a server the session shares."""

    fixtures: ClassVar[tuple[str, str]]  # the server's fixture, the subtree's
    side: ClassVar[str]
    password: ClassVar[str]

    def __init__(self, tmp_path: Path, server: S, base: str) -> None:
        super().__init__(tmp_path)
        self.server = server
        self.container = f"{self.side},{base}"
        self.password_file = tmp_path / f"{self.name}-password"
        self.password_file.write_text(self.password + "\n")

    @classmethod
    def create(cls, request: pytest.FixtureRequest, tmp_path: Path) -> ProviderHarness:
        server, base = cls.fixtures
        return cls(tmp_path, request.getfixturevalue(server), request.getfixturevalue(base))


class LdapHarness(_DirectoryHarness[Slapd]):
    """Entries of the test schema's idsyncRecord class below `ou=side` in the test's own
    subtree of a slapd the session shares (tests/ldap_server.py)."""

    name = "ldap"
    unsupported = ("disable",)
    ignored = ("dn", "objectClass")
    fixtures = ("slapd", "ldap_base")
    side = "ou=side"
    password = ADMIN_PASSWORD

    def make(self, layout: Layout) -> Provider:
        connection = LdapConnection(
            id="dir",
            urls=[self.server.url],
            bind_dn=ADMIN_DN,
            password=SecretRef(file=str(self.password_file)),
        )
        endpoint = Endpoint(
            connection="dir", container=self.container, object_classes=["idsyncRecord"]
        )
        return open_provider(connection, endpoint, layout)

    def _connection(self) -> ldap3.Connection:
        return ldap3.Connection(self.server.url, ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)

    def prepare(self) -> None:
        with self._connection() as conn:
            conn.add(self.container, ["organizationalUnit"], {"ou": "side"})

    def seed(self, layout: Layout, records: list[Record]) -> None:
        self.prepare()
        with self._connection() as conn:
            for record in records:
                attributes = {
                    name: list(value) if isinstance(value, list) else str(value)
                    for name, value in record.items()
                }
                dn = f"id={record['id']},{self.container}"
                assert conn.add(dn, ["idsyncRecord"], attributes), conn.result

    def exists(self) -> bool:
        with self._connection() as conn:
            conn.search(self.container, "(objectClass=idsyncRecord)", attributes=["id"])
            return bool(conn.entries)


class AdHarness(_DirectoryHarness[Samba]):
    """Contacts below `OU=side` in the test's own OU of the session's Samba AD DC
    (tests/ad_server.py). AD has no attributes named like the suite's fields, so the
    provider is seen through a renaming (tests/contract/renamed.py)."""

    name = "ad"
    unsupported = ("disable",)  # contacts have no account to disable
    FIELDS = {
        "id": "employeeID",
        "name": "displayName",
        "mail": "mail",
        "groups": "otherMailbox",
        "title": "title",
    }

    fixtures = ("samba", "ad_base")
    side = "OU=side"
    password = AD_PASSWORD

    def make(self, layout: Layout) -> Provider:
        connection = ActiveDirectoryConnection(
            id="ad",
            urls=[URL],
            bind_dn=ADMIN,
            password=SecretRef(file=str(self.password_file)),
            verify=False,
        )
        endpoint = Endpoint(connection="ad", container=self.container, object_classes=["contact"])
        return Renamed(open_provider, connection, endpoint, layout, self.FIELDS)

    def prepare(self) -> None:
        with self.server.connection() as conn:
            conn.add(self.container, ["organizationalUnit"])

    def seed(self, layout: Layout, records: list[Record]) -> None:
        self.prepare()
        with self.server.connection() as conn:
            for record in records:
                attributes = {
                    self.FIELDS[name]: list(value) if isinstance(value, list) else str(value)
                    for name, value in record.items()
                }
                assert conn.add(f"CN={record['id']},{self.container}", ["contact"], attributes)

    def exists(self) -> bool:
        with self.server.connection() as conn:
            conn.search(self.container, "(objectClass=contact)", attributes=["cn"])
            return bool(conn.entries)


class ScimHarness(ProviderHarness):
    """Users of a tenant of the session's scim2-server of the test's own
    (tests/scim_server.py), seen through a renaming onto SCIM attributes: the suite's
    `groups` are entitlements, its `mail` the work address. Before `prepare` the side is
    a tenant the server does not have (a source that does not exist)."""

    name = "scim"
    unsupported = ("move",)
    keeps_order = False
    FIELDS = {
        "id": "userName",
        "name": "displayName",
        "mail": 'emails[type eq "work"].value',
        "groups": "entitlements.value",
        "title": "title",
    }

    def __init__(self, tmp_path: Path, server: ScimServer) -> None:
        super().__init__(tmp_path)
        self.server = server
        self.url = f"{server.root}/missing-{tmp_path.name}/v2"
        self.ready = False
        self.token_file = tmp_path / "scim-token"
        self.token_file.write_text(TOKEN + "\n")

    @classmethod
    def create(cls, request: pytest.FixtureRequest, tmp_path: Path) -> ProviderHarness:
        return cls(tmp_path, request.getfixturevalue("scim_server"))

    def prepare(self) -> None:
        if not self.ready:
            self.url, self.ready = self.server.new_tenant(), True

    def make(self, layout: Layout) -> Provider:
        connection = ScimConnection(
            id="scim", url=self.url, token=SecretRef(file=str(self.token_file))
        )
        return Renamed(open_provider, connection, Endpoint(connection="scim"), layout, self.FIELDS)

    def seed(self, layout: Layout, records: list[Record]) -> None:
        self.prepare()
        with scim_client(self.url) as http:
            for record in records:
                user: dict[str, object] = {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": record["id"],
                }
                if "name" in record:
                    user["displayName"] = record["name"]
                if "title" in record:
                    user["title"] = record["title"]
                if "mail" in record:
                    user["emails"] = [{"type": "work", "value": record["mail"]}]
                if isinstance(groups := record.get("groups"), list):
                    user["entitlements"] = [{"value": g} for g in groups]
                answer = http.post("/Users", json=user)
                assert answer.status_code == 201, answer.text

    def exists(self) -> bool:
        if not self.ready:
            return False
        with scim_client(self.url) as http:
            return bool(http.get("/Users", params={"count": 0}).json()["totalResults"])


class ScimPutHarness(ScimHarness):
    """The same on a server that offers neither PATCH nor bulk: updates are full PUTs."""

    name = "scim-put"

    @classmethod
    def create(cls, request: pytest.FixtureRequest, tmp_path: Path) -> ProviderHarness:
        return cls(tmp_path, request.getfixturevalue("scim_put_server"))


PLUGIN_DOC = Path(__file__).resolve().parents[2] / "docs" / "providers" / "plugin.md"


def _plugin_of_the_doc() -> str:
    """docs/providers/plugin.md's example class, importable as the module named here."""
    name = "idsync_plugin_doc"
    if name not in sys.modules:
        found = re.search(r"```python\n(.*?)```", PLUGIN_DOC.read_text(), re.S)
        assert found is not None, "the page has its example"
        module = types.ModuleType(name)
        exec(compile(found[1], str(PLUGIN_DOC), "exec"), module.__dict__)
        sys.modules[name] = module
    return f"{name}:JsonFileProvider"


class PluginDocHarness(ProviderHarness):
    """The example provider of docs/providers/plugin.md, loaded as a plugin."""

    name = "plugin-doc"

    @property
    def path(self) -> Path:
        return self.tmp_path / "people.json"

    def make(self, layout: Layout) -> Provider:
        connection = PluginConnection(
            id="doc", factory=_plugin_of_the_doc(), options={"path": str(self.path)}
        )
        return open_provider(connection, Endpoint(connection="doc"), layout)

    def seed(self, layout: Layout, records: list[Record]) -> None:
        stored = {"/".join(str(r[k]) for k in layout.keys): r for r in records}
        self.path.write_text(json.dumps(stored), encoding="utf-8")

    def exists(self) -> bool:
        return self.path.exists()


def _entra() -> type[ProviderHarness]:
    from tests.contract.entra import EntraHarness  # it builds on this module's base class

    return EntraHarness


HARNESSES: list[type[ProviderHarness]] = [
    CsvHarness,
    ExcelHarness,
    ExcelReplaceHarness,
    ExcelStagedHarness,
    ExcelReplaceStagedHarness,
    SqliteHarness,
    PostgresqlHarness,
    MysqlHarness,
    LdapHarness,
    AdHarness,
    ScimHarness,
    ScimPutHarness,
    _entra(),
    PluginDocHarness,
]


async def read_all(provider: Provider, batch_size: int = 1000) -> list[Record]:
    """Every record, sorted by id (providers promise no order)."""
    records = [record async for batch in provider.read(batch_size) for record in batch]
    return sorted(records, key=lambda r: str(r.get("id", "")))


def create(key: str, **fields: Value) -> Change:
    return Change(action="create", key=key, match={"id": key}, set={"id": key, **fields})


def update(key: str, clear: tuple[str, ...] = (), **fields: Value) -> Change:
    return Change(action="update", key=key, match={"id": key}, set=dict(fields), clear=tuple(clear))


def delete(key: str) -> Change:
    return Change(action="delete", key=key, match={"id": key})
