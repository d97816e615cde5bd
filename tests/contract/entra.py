"""The contract suite's side on Microsoft Entra ID: users of a tenant of the tests' Graph
(tests/graph_server/) that the test's first write makes — before it, the tenant does not
exist, so a source there is missing.

Graph has no properties named like the suite's fields, so the provider is seen through a
renaming (id → employeeId, name → jobTitle, groups → a multi-valued directory extension),
and each created user is given the userPrincipalName and displayName Graph requires."""

from __future__ import annotations

import uuid
from pathlib import Path

import msgspec
import pytest

from schemas.connections import EntraConnection, SecretRef
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record
from services.providers import open_provider
from services.providers.base import Layout, Outcome, Provider
from tests.contract.harness import ProviderHarness
from tests.contract.renamed import Renamed
from tests.graph_server import GraphServer, Tenant

EXTENSION = "extension_" + "5e1f0c2a9b7d4e31a8c6f0b2d4e6a8c0" + "_groups"


class _Users(Renamed):
    """Renamed, with what Graph requires of a new user made from its id."""

    def __init__(self, domain: str, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.domain = domain

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        renamed = []
        for change in changes:
            match, values = self._theirs(change.match), self._theirs(change.set)
            if change.action == "create":
                key = str(change.match["id"])
                values = {"userPrincipalName": f"{key}@{self.domain}", "displayName": key, **values}
            renamed.append(
                msgspec.structs.replace(
                    change,
                    match=match,
                    set=values,
                    clear=tuple(self.out.get(name, name) for name in change.clear),
                )
            )
        return await self.provider.apply(renamed)


class EntraHarness(ProviderHarness):
    name = "entra"
    unsupported = ("move",)
    FIELDS = {
        "id": "employeeId",
        "name": "jobTitle",
        "mail": "mail",
        "groups": EXTENSION,
        "title": "department",
    }

    def __init__(self, tmp_path: Path, server: GraphServer) -> None:
        super().__init__(tmp_path)
        self.server = server
        self.label = "c" + uuid.uuid4().hex[:10]
        self.tenant: Tenant | None = None
        self.secret = tmp_path / "entra-secret"
        self.secret.write_text("not yet\n")

    @classmethod
    def create(cls, request: pytest.FixtureRequest, tmp_path: Path) -> ProviderHarness:
        return cls(tmp_path, request.getfixturevalue("graph"))

    @property
    def domain(self) -> str:
        return f"{self.label}.example.org"

    def make(self, layout: Layout) -> Provider:
        seeder = self.tenant.seeder if self.tenant else {"client_id": str(uuid.uuid4())}
        connection = EntraConnection(
            id="entra",
            tenant=self.domain,
            client_id=seeder["client_id"],
            secret=SecretRef(file=str(self.secret)),
            authority=self.server.url,
            graph=self.server.url,
            ca_file=str(self.server.ca_file),
        )
        endpoint = Endpoint(connection="entra")
        return _Users(self.domain, open_provider, connection, endpoint, layout, self.FIELDS)

    def prepare(self) -> None:
        if self.tenant is None:
            self.tenant = self.server.tenant(self.label)
            self.tenant.extension(EXTENSION, multi=True)
            self.secret.write_text(self.tenant.seeder["secret"] + "\n")

    def seed(self, layout: Layout, records: list[Record]) -> None:
        self.prepare()
        assert self.tenant is not None
        for record in records:
            key = str(record["id"])
            body: dict[str, object] = {
                "accountEnabled": True,
                "displayName": key,
                "mailNickname": key,
                "userPrincipalName": f"{key}@{self.domain}",
                "passwordProfile": {"password": "Seed-Pa55word!"},
            }
            body.update({self.FIELDS[name]: value for name, value in record.items()})
            self.tenant.graph("POST", "users", body)

    def exists(self) -> bool:
        return self.tenant is not None and bool(self.tenant.objects()["user"])
