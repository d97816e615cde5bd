"""Active Directory (a Samba AD DC, tests/ad_server.py) as the destination of jobs planned
and applied in process, as the directory matrices run slapd
(test_directory_matrix_merge.py, test_directory_matrix_query.py): a field merged adds no
value the account holds in another case (AD compares text without case), and a create
whose written values put the account out of the destination's query fails alone when
planned, naming the query — one the values do not decide is created, and the next run's
create, finding it out of the query, fails instead of writing it again silently."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import msgspec

from schemas.jobs import Job
from tests.ad_server import Samba, sam
from tests.ldap_server import Slapd

from .test_ad_provider import ad_connection
from .test_directory_matrix_values import Harness


def harness(tmp_path: Path, base: str, fields: list[dict[str, Any]], query: str) -> Harness:
    h = Harness(cast(Slapd, SimpleNamespace(url="")), base, tmp_path, {"objects": []})
    h.connections = (h.connections[0], ad_connection(tmp_path))
    job = {
        "id": "ad-values",
        "source": {"connection": "hr", "file": "people.csv"},
        "destination": {"connection": "ad", "container": base, "query": query},
        "safety": {"max_percent": 100},
        "objects": [
            {
                "keys": ["sAMAccountName"],
                "fields": [{"to": "sAMAccountName", "from": "id"}, {"to": "cn"}, *fields],
            }
        ],
    }
    h.job = msgspec.convert(job, Job)
    return h


def held(samba: Samba, base: str, attribute: str) -> dict[str, list[str]]:
    """sAMAccountName → the values of `attribute` of the accounts below `base`."""
    with samba.connection() as conn:
        conn.search(base, "(objectClass=user)", attributes=["sAMAccountName", attribute])
        return {
            str(e["attributes"]["sAMAccountName"]): list(e["attributes"][attribute] or [])
            for e in conn.response or []
        }


async def test_a_merge_and_a_query_on_active_directory(
    samba: Samba, ad_base: str, tmp_path: Path
) -> None:
    merged = {"to": "otherTelephone", "from": "phones", "delimiter": "|", "policy": "merge"}
    kind = {"to": "department", "from": "kind"}
    query = "(&(sAMAccountType=805306368)(|(department=managed)(department=staff*)))"
    h = harness(tmp_path, ad_base, [merged, kind], query)
    a, b, c = sam("a"), sam("b"), sam("c")
    rows = [
        {"id": a, "cn": "A", "phones": "Staff", "kind": "MANAGED"},
        {"id": b, "cn": "B", "phones": "x", "kind": "contractor"},
    ]
    h.write(rows)
    first, errors = await h.run()
    assert all(e is None for e in errors.values()), errors
    [refused] = first.record_errors
    assert refused.key == b and query in refused.message, refused
    assert "department: 'contractor'" in refused.message
    assert set(held(samba, ad_base, "sAMAccountName")) == {a}

    h.write([{**rows[0], "phones": "staff|wiki"}, rows[1]])
    second, errors = await h.run()
    assert second.record_errors[0].key == b and all(e is None for e in errors.values()), errors
    assert held(samba, ad_base, "otherTelephone")[a] == ["Staff", "wiki"]
    assert [c.action for c in (await h.plan()).plan.changes] == []

    # A query the values written do not decide (an attribute AD sets of its own): made,
    # and the next run's create, which finds it there out of the query, fails.
    h = harness(tmp_path, ad_base, [kind], "(&(sAMAccountType=805306368)(description=kept))")
    h.write([{"id": c, "cn": "C", "kind": "x"}])
    _, errors = await h.run()
    assert errors == {c: None}, errors
    _, errors = await h.run()
    assert "out of the destination's query" in str(errors[c]), errors
