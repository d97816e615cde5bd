"""Active Directory spells the DNs its DN-valued attributes hold its own way (`CN=…`), and
so does a record written to it — but not the values of a field that resolves references:
those name objects by a field of theirs (a cn such as "x = y"), looked up as the source
spells them."""

from __future__ import annotations

from typing import Any, cast

from schemas.connections import ActiveDirectoryConnection, SecretRef
from schemas.jobs import Endpoint, FieldMap, ObjectMapping, Resolve
from services.providers.ad.provider import AdProvider
from services.providers.layouts import destination_layout
from services.providers.ldap.values import Values

BASE = "DC=corp,DC=example,DC=org"


def provider(mapping: ObjectMapping) -> AdProvider:
    connection = ActiveDirectoryConnection(
        id="corp", urls=["ldaps://dc1"], bind_dn="svc@CORP", password=SecretRef(env="PW")
    )
    layout = destination_layout(mapping, identifiers=True)
    side = AdProvider(connection, Endpoint(connection="corp", container=BASE), layout)
    values = Values(
        binary=frozenset(),
        multi_valued=layout.multi_valued,
        spellings=layout.fields,
        with_dn=False,
    )
    cast(Any, side)._values = values  # as `open` makes it, without a domain controller
    return side


def test_members_named_by_a_value_that_reads_as_a_dn_are_left_as_they_are() -> None:
    by_cn = Resolve(type="user", by="cn")
    mapping = ObjectMapping(
        keys=["cn"],
        type="group",
        fields=[
            FieldMap(to="cn"),
            FieldMap(to="member", delimiter="|", resolve=by_cn),
            FieldMap(to="managedBy"),
        ],
    )
    record = provider(mapping).canonical(
        {"cn": "team", "member": ["x = y", "a = b"], "managedBy": "cn=Ann, ou=People"}
    )
    assert record["member"] == ["x = y", "a = b"], record
    assert record["managedBy"] == "CN=Ann,OU=People", "a plain DN value: AD's spelling"
