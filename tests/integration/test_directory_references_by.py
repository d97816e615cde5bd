"""A reference `by` a field that is not the key, and that an object holds several values
of (a person's mail addresses), on a real slapd: a value names the object holding it
among its others."""

from __future__ import annotations

import pytest

from .conftest import RunServices
from .ldap_helpers import define, entries
from .test_directory_matrix import JOB, Directory, cdn, directory
from .test_ldap_jobs import connections_toml

__all__ = ["directory"]


def job_toml(base: str) -> str:
    return f"""id = "{JOB}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "dir", container = "ou=a,{base}" }}
safety = {{ max_percent = 100 }}

[[objects]]
type = "user"
keys = ["uid"]
destination = {{ object_classes = ["inetOrgPerson"] }}
fields = [
  {{ to = "uid", from = "id" }},
  {{ to = "cn", from = "name" }},
  {{ to = "sn", from = "name" }},
  {{ to = "mail", from = "mails", delimiter = "|" }},
  {{ to = "manager", from = "boss", resolve = {{ type = "user", by = "mail" }} }},
]
"""


async def test_a_manager_named_by_one_of_several_mail_addresses_is_found(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str]
) -> None:
    d = directory
    await define(d.session, d.folder, connections_toml(d.folder, d.slapd), job_toml(d.base))
    (d.folder / "data" / "people.csv").write_text(
        "id;name;mails;boss\n"
        "p1;Ada;a@x.org|ada@x.org;\n"
        "p2;Bob;b@x.org;ada@x.org\n"
        "p3;Cy;c@x.org;a@x.org\n"
    )
    async with services():
        first = await d.run(capsys)
        assert (first.stats.created, first.stats.failed) == (3, 0), first.stats
        found = entries(d.slapd, d.base)
        managers = {
            cdn(dn): [cdn(v.decode()) for v in e.get("manager", [])] for dn, e in found.items()
        }
        ada = cdn(f"uid=p1,ou=a,{d.base}")
        assert managers[cdn(f"uid=p2,ou=a,{d.base}")] == [ada]
        assert managers[cdn(f"uid=p3,ou=a,{d.base}")] == [ada]
        again = await d.run(capsys)
        assert (again.stats.written, again.stats.failed) == (0, 0), again.stats


async def test_a_manager_named_by_a_mail_in_another_case_is_found_as_the_server_compares_mail(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str]
) -> None:
    """mail compares without case on the server (caseIgnoreIA5Match): so does the lookup."""
    d = directory
    await define(d.session, d.folder, connections_toml(d.folder, d.slapd), job_toml(d.base))
    (d.folder / "data" / "people.csv").write_text(
        "id;name;mails;boss\np1;Ada;Ada@X.org;\np2;Bob;b@x.org;ADA@x.ORG\n"
    )
    async with services():
        first = await d.run(capsys)
        assert (first.stats.created, first.stats.failed) == (2, 0), first.stats
        found = entries(d.slapd, d.base)
        bob = found[next(dn for dn in found if dn.lower().startswith("uid=p2,"))]
        assert [cdn(v.decode()) for v in bob["manager"]] == [cdn(f"uid=p1,ou=a,{d.base}")]
        again = await d.run(capsys)
        assert (again.stats.written, again.stats.failed) == (0, 0), again.stats
