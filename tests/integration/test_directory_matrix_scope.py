"""Containers a record names (`container_from`) out of the job's scope: an object created
or moved there would never be read again — created anew by every run, never deleted when
its record goes. Such a record fails alone, naming the container, and its object stays
where it is (never created, moved nor deleted for it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli.client import Session
from services.common.settings import Settings
from tests.ldap_server import SUFFIX, Slapd

from .conftest import RunServices
from .ldap_helpers import add_ou, entries
from .test_directory_matrix import Directory, group, user
from .test_directory_matrix_values import Harness, people_job


@pytest.mark.parametrize("subtree", [True, False], ids=["subtree", "one-level"])
async def test_a_container_out_of_the_scope_fails_its_record_alone(
    slapd: Slapd, ldap_base: str, tmp_path: Path, subtree: bool
) -> None:
    inside, outside = f"ou=in,{ldap_base}", f"ou=out,{ldap_base}"
    below = f"ou=below,{inside}"
    for ou in (inside, outside, below):
        add_ou(slapd, ou)
    job = people_job(container_from="ou", on_destination_only="delete")
    job["destination"] = {"connection": "dir", "container": inside}
    job["destination"]["include_subcontainers"] = subtree
    h = Harness(slapd, inside, tmp_path, job)
    nested = below if subtree else inside.upper()
    rows = [
        {"id": f"p{n}", "cn": f"P {n}", "sn": "P", "ou": ou}
        for n, ou in enumerate([inside, nested], 1)
    ]
    h.write([*rows, {"id": "p3", "cn": "P 3", "sn": "P", "ou": outside}])
    first, errors = await h.run()
    assert [(c.action, c.key) for c in first.plan.changes] == [("create", "p1"), ("create", "p2")]
    assert all(e is None for e in errors.values()), errors
    [failed] = first.record_errors
    assert failed.key == "p3" and outside in failed.message, failed
    again = await h.plan()
    assert [c.action for c in again.plan.changes] == [], again.plan.changes

    h.write([rows[0], {**rows[1], "ou": outside}])  # p2 names a container out of scope
    moved = await h.plan()
    assert [c.action for c in moved.plan.changes] == [], "p2 neither moved nor deleted"
    assert [e.key for e in moved.record_errors] == ["p2"], moved.record_errors


async def test_a_record_naming_a_container_out_of_the_scope_fails_in_preview_and_run(
    slapd: Slapd,
    ldap_base: str,
    tmp_path: Path,
    session: Session,
    settings: Settings,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Through the services: the preview plans what the run applies (the same hash), the
    record fails alone in both, its group still names the other members, and a run
    after writes nothing."""
    d = Directory(slapd, ldap_base, tmp_path / "job", session, settings)
    await d.define()
    a, out = d.ou("a"), f"{ldap_base.split(',', 1)[0]}-out,{SUFFIX}"  # beside the job's
    add_ou(slapd, out)
    d.write([user(1, a), user(2, out)], [group("team", a, 1)])
    async with services():
        first = await d.run(capsys)
        assert (first.stats.created, first.stats.failed) == (2, 1), first.stats
        assert entries(slapd, out) == {}
        again = await d.run(capsys)
        assert (again.stats.written, again.stats.failed) == (0, 1), again.stats


async def test_an_entry_created_out_of_the_query_is_no_create_on_every_run(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    """The job writes none of what the query asks for: the create fails when the run is
    planned, naming the query, and nothing is written."""
    job = people_job()
    job["destination"] = {
        "connection": "dir",
        "container": ldap_base,
        "query": "(&(objectClass=inetOrgPerson)(employeeType=managed))",
    }
    h = Harness(slapd, ldap_base, tmp_path, job)
    h.write([{"id": "p1", "cn": "P 1", "sn": "P"}])  # nothing writes employeeType
    first, errors = await h.run()
    assert [c.action for c in first.plan.changes] == [] and errors == {}, errors
    [refused] = first.record_errors
    # Said so, naming the query to change.
    assert refused.key == "p1" and "out of the destination's query" in refused.message
    assert "(employeeType=managed)" in refused.message
    assert h.entries() == {}


async def test_an_entry_the_query_leaves_out_undecided_by_its_values_fails_its_next_create(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    """A query the values written do not decide (an ordering, which employeeType has
    none of: the server matches no entry by it): the entry is created, and the next
    run's create, which finds it there but out of the query, fails, naming the query —
    never created again on every run, silently."""
    query = "(&(objectClass=inetOrgPerson)(employeeType>=m))"
    job = people_job({"to": "employeeType", "from": "kind"})
    job["destination"] = {"connection": "dir", "container": ldap_base, "query": query}
    h = Harness(slapd, ldap_base, tmp_path, job)
    h.write([{"id": "p1", "cn": "P 1", "sn": "P", "kind": "x"}])
    _, errors = await h.run()
    assert errors == {"p1": None}
    again, errors = await h.run()
    assert [c.action for c in again.plan.changes] == ["create"]
    assert "the entry is there, but out of the destination's query" in str(errors["p1"])
    assert query in str(errors["p1"])
