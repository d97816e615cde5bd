"""The provider registry: one descriptor per connection type, read without importing what
the providers work with, and the facts the checks are given."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import get_args

import msgspec
import pytest

from core.checks.connections import check_connections
from core.checks.facts import ProviderFacts
from core.checks.job import check_job
from core.errors import BadInput
from schemas.connections import (
    Connection,
    CsvConnection,
    LdapConnection,
    PluginConnection,
    SqliteConnection,
)
from schemas.jobs import Endpoint, Job, ObjectMapping
from services.common.hooks import hooks_problem
from services.providers import FACTS, PROVIDERS, Layout, open_provider

ROOT = Path(__file__).resolve().parents[2]


def test_every_connection_type_has_the_descriptor_of_its_tag() -> None:
    types = {str(cls.__struct_config__.tag): cls for cls in get_args(Connection)}
    assert sorted(PROVIDERS) == sorted(types)
    for tag, descriptor in PROVIDERS.items():
        assert descriptor.connection is types[tag]
        assert descriptor.facts.tag == tag
        assert FACTS[tag] is descriptor.facts


def test_loading_the_registry_imports_no_client_library() -> None:
    code = (
        "import sys, services.providers as p; "
        "print(len(p.FACTS), sorted(m for m in sys.modules if m.split('.')[0] in "
        "('ldap3', 'aiosqlite', 'asyncpg', 'asyncmy', 'httpx', 'openpyxl', 'msal')))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert found.stdout.split() == ["11", "[]"]


@pytest.mark.parametrize(
    ("connection", "setting"),
    [
        (CsvConnection(id="hr", directory="/srv/hr"), "`file:`"),
        (SqliteConnection(id="db", path="/srv/db.sqlite"), "`table:`"),
        (LdapConnection(id="dir", urls=["ldap://127.0.0.1"]), "`container:`"),
    ],
    ids=["csv", "sqlite", "ldap"],
)
def test_opening_a_side_without_what_its_provider_needs_names_the_setting(
    connection: Connection, setting: str
) -> None:
    with pytest.raises(BadInput, match=f"the endpoint needs {setting}"):
        open_provider(connection, Endpoint(connection=connection.id), Layout())


def test_a_plugin_applies_what_its_connection_lists() -> None:
    plugin = PluginConnection(id="api", factory="acme.hr:Hr", actions=["create", "disable"])
    assert FACTS["plugin"].can(plugin) == frozenset({"create", "disable"})


def test_the_checks_take_a_providers_facts_as_given() -> None:
    """A job of two object types writing to SQLite is refused for what the facts say of
    SQLite (a table holds one kind of record); the same job passes with facts that say
    its tables hold several."""
    job = msgspec.convert(
        {
            "id": "people-and-groups",
            "source": {"connection": "dir", "container": "dc=example,dc=org"},
            "destination": {"connection": "db", "table": "people"},
            "objects": [
                {
                    "type": type_,
                    "keys": ["cn"],
                    "source": {"object_classes": [class_]},
                    "destination": {"table": type_},
                }
                for type_, class_ in (("user", "inetOrgPerson"), ("group", "groupOfNames"))
            ],
        },
        Job,
    )
    connections: dict[str, Connection] = {
        "dir": LdapConnection(id="dir", urls=["ldap://127.0.0.1"]),
        "db": SqliteConnection(id="db", path="/srv/db.sqlite"),
    }
    with pytest.raises(BadInput) as refused:
        check_job(job, connections, FACTS)
    assert str(refused.value).splitlines() == [
        'job "people-and-groups": $.objects: expected one [[objects]] entry for sqlite, got 2: '
        "several object types need a directory provider"
    ]
    several = dataclasses.replace(FACTS["sqlite"], one_object_type=False)
    check_job(job, connections, {**FACTS, "sqlite": several})
    # A file source (one type too) is not what is named: the destination is.
    from_files = msgspec.structs.replace(job, source=Endpoint(connection="hr", file="p.csv"))
    connections["hr"] = CsvConnection(id="hr", directory="/srv")
    with pytest.raises(BadInput) as refused:
        check_job(from_files, connections, FACTS)
    assert "expected one [[objects]] entry for sqlite, got 2" in str(refused.value)


def test_a_provider_nobody_described_gets_the_basic_facts() -> None:
    connection = SqliteConnection(id="db", path="/srv/db.sqlite")
    check_connections([connection], {}, origin="connections.toml")  # no checks of its own
    assert ProviderFacts(tag="sqlite").can(connection) == frozenset({"create", "update", "delete"})


def test_connection_problems_name_the_file_the_table_and_the_field() -> None:
    bad: list[Connection] = [
        CsvConnection(id="hr", directory="/srv/hr", delimiter=";;"),
        LdapConnection(id="dir", urls=["http://x"]),
    ]
    with pytest.raises(BadInput) as refused:
        check_connections(bad, FACTS, origin="connections.toml")
    assert str(refused.value).splitlines() == [
        'connections.toml: [hr].delimiter: expected exactly one character such as ";", got ";;"',
        'connections.toml: [dir].urls[0]: expected "ldap://host[:port]" or "ldaps://…", '
        "got 'http://x'",
    ]


@pytest.mark.parametrize(
    ("hooks", "problem"),
    [
        (None, None),
        ("tests.plugins.recording:RecordingProvider", None),
        ("tests.plugins.nowhere:Audit", "cannot import tests.plugins.nowhere"),
        ("no-colon", "expected \"package.module:function\", got 'no-colon'"),
    ],
    ids=["none", "installed", "not-installed", "malformed"],
)
def test_hooks_are_loaded_where_the_job_is_applied(hooks: str | None, problem: str | None) -> None:
    job = Job(
        id="j",
        source=Endpoint(connection="a"),
        destination=Endpoint(connection="b"),
        objects=[ObjectMapping(keys=["uid"])],
        hooks=hooks,
    )
    found = hooks_problem(job)
    assert found == problem if problem is None else found is not None and problem in found
