"""A job that would create objects without what the destination requires is refused
when it is applied, naming the fields to map."""

from __future__ import annotations

import pytest

from core.checks.job import check_job
from core.errors import BadInput
from schemas.connections import Connection, CsvConnection, LdapConnection, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping
from services.providers import FACTS

CONNECTIONS: dict[str, Connection] = {
    "hr": CsvConnection(id="hr", directory="/tmp"),
    "db": SqliteConnection(id="db", path="/tmp/x.db"),
    "dir": LdapConnection(id="dir", urls=["ldap://127.0.0.1:1389"]),
}
DESTINATIONS = {
    "db": Endpoint(connection="db", table="people"),
    "dir": Endpoint(connection="dir", container="ou=People,dc=example,dc=org"),
}


def job(destination: str, fields: list[str], *, create: bool = True) -> Job:
    return Job(
        id="j",
        source=Endpoint(connection="hr", file="people.csv"),
        destination=DESTINATIONS[destination],
        objects=[
            ObjectMapping(
                keys=["uid"],
                fields=[FieldMap(to=name) for name in fields],
                on_source_only="create" if create else "skip",
            )
        ],
    )


@pytest.mark.parametrize(
    ("destination", "fields", "missing"),
    [
        ("dir", ["uid", "cn"], '"sn"'),
        ("dir", ["uid", "mail"], '"cn", "sn"'),
        ("db", ["mail"], '"uid"'),
    ],
    ids=["ldap-person-without-sn", "ldap-person-without-names", "table-without-its-key"],
)
def test_missing_mandatory_fields_are_named(
    destination: str, fields: list[str], missing: str
) -> None:
    with pytest.raises(BadInput, match=f"needs {missing} in {destination}"):
        check_job(job(destination, fields), CONNECTIONS, FACTS)


@pytest.mark.parametrize(
    ("destination", "fields", "create"),
    [("dir", ["uid", "cn", "sn"], True), ("db", ["uid"], True), ("dir", ["uid"], False)],
    ids=["ldap-person-complete", "table-with-its-key", "nothing-created"],
)
def test_complete_or_creating_nothing_is_accepted(
    destination: str, fields: list[str], create: bool
) -> None:
    check_job(job(destination, fields, create=create), CONNECTIONS, FACTS)


def test_a_directory_job_without_keys_is_refused_naming_the_keys() -> None:
    keyless = job("dir", ["uid", "cn", "sn"])
    keyless = Job(
        id=keyless.id,
        source=keyless.source,
        destination=keyless.destination,
        objects=[ObjectMapping(keys=[], fields=keyless.objects[0].fields)],
    )
    with pytest.raises(BadInput, match=r"\$\.objects\[0\]\.keys: expected at least one key"):
        check_job(keyless, CONNECTIONS, FACTS)
