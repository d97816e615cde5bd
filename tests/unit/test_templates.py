"""Templates (core/templates.py, core/ad_templates.py): a job kept without its source and
destination and made again with others; parameters filled, missing ones named; the
shipped Active Directory templates make jobs the checks accept."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.ad_templates import BUILTIN, builtin
from core.checks.job import check_job
from core.errors import BadInput
from core.templates import EMPTY, collection_from, job_from, of_collection, of_job, values_for
from schemas.collections import Collection, CollectionStep
from schemas.connections import ActiveDirectoryConnection, Connection, CsvConnection, SecretRef
from schemas.jobs import Endpoint
from services.common.definitions import load_job
from services.providers import FACTS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONNECTIONS: dict[str, Connection] = {
    "hr": CsvConnection(id="hr", directory="/srv/hr"),
    "corp": ActiveDirectoryConnection(
        id="corp",
        urls=["ldaps://dc1.corp.example.org"],
        bind_dn="idsync@CORP.EXAMPLE.ORG",
        password=SecretRef(env="AD_PASSWORD"),
    ),
}
BASE = "OU=Staff,DC=corp,DC=example,DC=org"


def test_a_job_kept_as_a_template_makes_the_same_job_elsewhere() -> None:
    job = load_job(EXAMPLES / "jobs" / "hr-to-sqlite.toml")
    template = of_job(job, "hr-template")
    assert template.job is not None
    assert (template.job.source, template.job.destination) == (EMPTY, EMPTY)
    source = Endpoint(connection="other-files", file="staff.csv")
    destination = Endpoint(connection="other-db", table="staff")
    made = job_from(template, "staff-to-db", source, destination)
    assert made.id == "staff-to-db" and made.title == job.title
    assert (made.source, made.destination) == (source, destination)
    assert (made.objects, made.schedule, made.notify) == (job.objects, job.schedule, job.notify)


def test_a_collection_kept_as_a_template_makes_another_collection() -> None:
    nightly = Collection(id="nightly", title="Nightly", jobs=[CollectionStep(job="a")])
    again = collection_from(of_collection(nightly, "night-template"), "weekly", title="Weekly")
    assert (again.id, again.title, again.jobs) == ("weekly", "Weekly", nightly.jobs)
    with pytest.raises(BadInput, match="makes a collection"):
        job_from(of_collection(nightly, "t"), "x", EMPTY, EMPTY)


def test_parameters_are_filled_and_the_missing_or_unknown_named() -> None:
    moving = builtin("ad-move-objects")
    assert moving is not None
    with pytest.raises(BadInput, match=r"needs --set container=…, --set move_to=…"):
        values_for(moving, {})
    with pytest.raises(BadInput, match="has no parameter color"):
        values_for(moving, {"color": "red", "move_to": "x", "container": "y"})
    filled = values_for(moving, {"move_to": f"OU=Gone,{BASE}", "container": BASE})
    assert filled["source_key"] == "sAMAccountName"  # a default


@pytest.mark.parametrize("template", BUILTIN, ids=lambda t: t.id)
def test_each_shipped_template_makes_a_job_the_checks_accept(template: object) -> None:
    from schemas.templates import Template

    assert isinstance(template, Template) and template.builtin
    ad_source = template.id in ("ad-sync-gal", "ad-linked-mailbox")
    source = (
        Endpoint(connection="corp", container=f"OU=Accounts,{BASE}")
        if ad_source
        else Endpoint(connection="hr", file="staff.csv")
    )
    given = {"move_to": f"OU=Gone,{BASE}", "container": BASE} if not ad_source else {}
    job = job_from(template, "made", source, Endpoint(connection="corp", container=BASE), given)
    check_job(job, CONNECTIONS, FACTS)
    assert "${" not in str(job)
