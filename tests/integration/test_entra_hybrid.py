"""The hybrid case through every service: Active Directory (the real Samba DC) → Entra ID
(the tests' Graph), each account's cloud user keyed by onPremisesImmutableId — the
base64 of its objectGUID, as Entra Connect writes it — so a renamed account is the same
cloud user, and a run with nothing new writes nothing."""

from __future__ import annotations

import base64
from pathlib import Path

import ldap3

from services.cli.client import Session
from tests.ad_server import ADMIN, ADMIN_PASSWORD, URL, Samba, sam
from tests.graph_server import Tenant

from .conftest import RunServices
from .entra_helpers import connection_toml
from .ldap_helpers import define
from .test_ldap_jobs import run


def connections(folder: Path, tenant: Tenant) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ad-password").write_text(ADMIN_PASSWORD + "\n")
    return f"""[corp]
provider = "ad"
urls = ["{URL}"]
bind_dn = "{ADMIN}"
password = {{ file = "{folder / "ad-password"}" }}
verify = false      # the test DC's certificate is self-signed

{connection_toml(folder, tenant)}"""


def job(base: str, domain: str) -> str:
    upn = f'{{ format = "{{}}@{domain}" }}'
    return f"""id = "ad-to-entra"
source = {{ connection = "corp", container = "{base}" }}
destination = {{ connection = "cloud" }}
[[objects]]
keys = ["onPremisesImmutableId"]
fields = [
  {{ to = "onPremisesImmutableId", from = "objectGUID" }},
  {{ to = "userPrincipalName", from = "sAMAccountName", transform = {upn} }},
  {{ to = "displayName" }},
  {{ to = "department" }},
]
"""


async def test_ad_accounts_become_cloud_users_matched_by_their_immutable_id(
    samba: Samba,
    ad_base: str,
    graph_tenant: Tenant,
    tmp_path: Path,
    session: Session,
    services: RunServices,
) -> None:
    with samba.connection() as conn:
        for i in range(5):
            attributes = {
                "sAMAccountName": sam(f"hy{i}"),
                "displayName": f"Hybrid {i}",
                "department": "Ops",
            }
            assert conn.add(f"CN=hy{i},{ad_base}", ["user"], attributes), conn.result
        conn.search(ad_base, "(objectClass=user)", attributes=["sAMAccountName", "objectGUID"])
        guids = {
            str(e.sAMAccountName): base64.b64encode(e.objectGUID.raw_values[0]).decode()
            for e in conn.entries
        }
    folder = tmp_path / "job"
    job_id = await define(
        session, folder, connections(folder, graph_tenant), job(ad_base, graph_tenant.domain)
    )
    async with services():
        first = await run(session, job_id)
        assert (first.stats.created, first.stats.failed) == (5, 0), first
        users = graph_tenant.users("onPremisesImmutableId")
        assert sorted(users) == sorted(guids.values())
        for login, immutable in guids.items():
            assert users[immutable]["userPrincipalName"] == f"{login}@{graph_tenant.domain}"

        again = await run(session, job_id)
        assert (again.stats.written, again.stats.unchanged) == (0, 5), again

        with samba.connection() as conn:  # renamed on premises: the same cloud user, renamed
            dn = f"CN=hy2,{ad_base}"
            changes = {"displayName": [(ldap3.MODIFY_REPLACE, ["Hybrid Two"])]}
            assert conn.modify(dn, changes), conn.result
        renamed = await run(session, job_id)
        assert (renamed.stats.updated, renamed.stats.created) == (1, 0), renamed
        assert (
            graph_tenant.users("displayName")["Hybrid Two"]["onPremisesImmutableId"]
            in guids.values()
        )
