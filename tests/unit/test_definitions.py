"""Job and connection files: what loads, and what each mistake is told."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.checks.connections import check_connections
from core.checks.intervals import parse_interval
from core.checks.job import check_job
from core.checks.ownership import unowned_connection_problems
from core.errors import BadInput
from schemas.connections import Connection, CsvConnection, SecretRef, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Schedule
from services.common.definitions import load_connections, load_job
from services.providers import FACTS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
JOB = Path("jobs/people.toml")  # relative on purpose: messages must show it as typed
CONNS = Path("connections.toml")

MINIMAL_JOB = """\
id = "people"
source = { connection = "hr-files", file = "people.csv" }
destination = { connection = "hr-db", table = "people" }
[[objects]]
keys = ["uid"]
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jobs").mkdir()


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def cases(table: list[tuple[Any, ...]]) -> list[Any]:
    """Table rows (name, *values) as pytest params named by their first column."""
    return [pytest.param(*values, id=name) for name, *values in table]


def applied(path: Path) -> list[Connection]:
    """A connections file as `idsync connection apply` takes it: loaded, then checked."""
    connections = load_connections(path)
    check_connections(connections, FACTS, origin=str(path))
    return connections


def error_of(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(BadInput) as caught:
        call(*args, **kwargs)
    return str(caught.value)


# --- job files: decoding errors ------------------------------------------------------

JOB_ERRORS = [
    (
        "keys-not-list",
        MINIMAL_JOB.replace('["uid"]', '"uid"'),
        'jobs/people.toml: $.objects[0].keys: expected a list of strings, got "uid"',
    ),
    (
        "unknown-field",
        MINIMAL_JOB + 'titel = "x"\n',
        'jobs/people.toml: $.objects[0].titel: unknown field "titel" (',
    ),
    (
        "job-setting-under-objects",
        MINIMAL_JOB + 'changes = { field = "modified_at" }\n',
        'jobs/people.toml: $.objects[0].changes: unknown field "changes" (a setting of the '
        "job, not of an [[objects]] entry: write it above the first [[objects]])",
    ),
    (
        "job-setting-under-schedules",
        'id = "people"\n[[schedules]]\nname = "often"\nevery = "1h"\n'
        + MINIMAL_JOB.removeprefix('id = "people"\n'),
        'jobs/people.toml: $.schedules[0].source: unknown field "source" (a setting of the '
        "job, not of a [[schedules]] entry: write it above the first [[schedules]])",
    ),
    (
        "unknown-top",
        'titel = "People"\n' + MINIMAL_JOB,
        'jobs/people.toml: $.titel: unknown field "titel" (did you mean "title"?)',
    ),
    (
        "unknown-far",
        "colour = 1\n" + MINIMAL_JOB,
        'jobs/people.toml: $.colour: unknown field "colour" (known: id, source, destination',
    ),
    (
        "unknown-nested",
        MINIMAL_JOB.replace('connection = "hr-db"', 'conection = "hr-db"'),
        'jobs/people.toml: $.destination.conection: unknown field "conection" '
        '(did you mean "connection"?)',
    ),
    (
        "unknown-in-true-or-a-table",
        MINIMAL_JOB + 'fields = [{ to = "uid", unique = { patern = "{value}{n}" } }]\n',
        'jobs/people.toml: $.objects[0].fields[0].unique.patern: unknown field "patern" '
        '(did you mean "pattern"?)',
    ),
    (
        "wrong-in-true-or-a-table",
        MINIMAL_JOB + 'fields = [{ to = "uid", unique = { start = "2" } }]\n',
        'jobs/people.toml: $.objects[0].fields[0].unique.start: expected a whole number, got "2"',
    ),
    (
        "missing",
        MINIMAL_JOB.replace('source = { connection = "hr-files", file = "people.csv" }', ""),
        'jobs/people.toml: $: missing required field "source"',
    ),
    (
        "missing-nested",
        MINIMAL_JOB + 'fields = [{ from = "login" }]\n',
        'jobs/people.toml: $.objects[0].fields[0]: missing required field "to"',
    ),
    (
        "int",
        'batch_size = "10"\n' + MINIMAL_JOB,
        'jobs/people.toml: $.batch_size: expected a whole number, got "10"',
    ),
    (
        "float-for-int",
        "batch_size = 1.5\n" + MINIMAL_JOB,
        "jobs/people.toml: $.batch_size: expected a whole number, got 1.5",
    ),
    (
        "bool",
        'enabled = "yes"\n' + MINIMAL_JOB,
        'jobs/people.toml: $.enabled: expected true or false, got "yes"',
    ),
    (
        "literal",
        MINIMAL_JOB + 'on_both = "upd"\n',
        'jobs/people.toml: $.objects[0].on_both: expected one of "skip", "update", got "upd"',
    ),
    (
        "table",
        MINIMAL_JOB.replace('{ connection = "hr-files", file = "people.csv" }', '"hr-files"'),
        'jobs/people.toml: $.source: expected a table, got "hr-files"',
    ),
    (
        "text",
        MINIMAL_JOB + 'fields = [{ to = "uid", from = 3 }]\n',
        "jobs/people.toml: $.objects[0].fields[0].from: expected text, got 3",
    ),
    (
        "list-item",
        MINIMAL_JOB.replace('["uid"]', "[1]"),
        "jobs/people.toml: $.objects[0].keys[0]: expected text, got 1",
    ),
    (
        "date",
        "title = 2024-01-31\n" + MINIMAL_JOB,
        "jobs/people.toml: $.title: expected text, got 2024-01-31",
    ),
    (
        "optional-table",
        MINIMAL_JOB.replace("[[objects]]", "[schedule]\nevery = 5\n[[objects]]"),
        "jobs/people.toml: $.schedule.every: expected text, got 5",
    ),
    (
        "single-brackets",
        MINIMAL_JOB.replace("[[objects]]", "[objects]"),
        'jobs/people.toml: $.objects: expected a list of tables, got { keys = ["uid"] } '
        "(write [[objects]] with two brackets, once per entry)",
    ),
    (
        "slug",
        MINIMAL_JOB.replace('"people"', '"People List"', 1),
        "jobs/people.toml: $.id: expected a slug (a-z, 0-9, - and _, starting with a letter or "
        'digit, up to 64 characters), got "People List"',
    ),
    (
        "syntax",
        'id = "people"\ntitle = "x"\ndescription = oops\n',
        "jobs/people.toml: line 3, column 15: Invalid value",
    ),
    (
        "syntax-eof",
        'id = "people"\ntitle = "unfinished',
        "jobs/people.toml: end of file: Unterminated string",
    ),
    ("not-utf8", b'id = "caf\xe9"\n', "jobs/people.toml: expected UTF-8 text"),
]


@pytest.mark.parametrize(("text", "expected"), cases(JOB_ERRORS))
def test_job_file_errors_name_file_path_and_expectation(text: str | bytes, expected: str) -> None:
    write(JOB, text)
    assert expected in error_of(load_job, JOB)


def test_missing_files_are_named_as_typed() -> None:
    assert error_of(load_job, Path("jobs/nope.toml")) == "jobs/nope.toml: no such file"
    assert error_of(load_connections, CONNS) == "connections.toml: no such file"
    assert "expected a TOML file, got a folder" in error_of(load_job, Path("jobs"))


def test_a_byte_order_mark_is_accepted() -> None:
    write(JOB, b"\xef\xbb\xbf" + MINIMAL_JOB.encode())
    assert load_job(JOB).id == "people"


def test_a_minimal_job_shows_every_default() -> None:
    write(JOB, MINIMAL_JOB)
    assert load_job(JOB) == Job(
        id="people",
        source=Endpoint(
            connection="hr-files",
            file="people.csv",
            table=None,
            delimiter=None,
            quote_char=None,
            encoding=None,
        ),
        destination=Endpoint(
            connection="hr-db",
            file=None,
            table="people",
            delimiter=None,
            quote_char=None,
            encoding=None,
        ),
        objects=[
            ObjectMapping(
                keys=["uid"],
                type="user",
                case_insensitive=False,
                on_source_only="create",
                on_both="update",
                on_destination_only="skip",
                fields=[],
            )
        ],
        title="",
        description="",
        owners=[],
        schedule=None,
        enabled=True,
        batch_size=1000,
    )


def test_a_full_job_round_trips() -> None:
    write(
        JOB,
        """\
id = "people"
title = "People"
description = "HR to the database"
owners = ["alice"]
enabled = false
batch_size = 50
destination = { connection = "hr-db", table = "people" }
schedule = { every = "1h30m" }
[source]
connection = "hr-files"
file = "p.csv"
delimiter = ";"
quote_char = "'"
encoding = "latin-1"
[[objects]]
type = "person"
keys = ["id"]
case_insensitive = true
on_source_only = "skip"
on_both = "skip"
on_destination_only = "disable"
fields = [
  { to = "id", from = "employee_id", create_only = true },
  { to = "groups", delimiter = "|" },
]
""",
    )
    job = load_job(JOB)
    assert job.source == Endpoint(
        connection="hr-files", file="p.csv", delimiter=";", quote_char="'", encoding="latin-1"
    )
    assert job.objects[0] == ObjectMapping(
        keys=["id"],
        type="person",
        case_insensitive=True,
        on_source_only="skip",
        on_both="skip",
        on_destination_only="disable",
        fields=[
            FieldMap(to="id", from_="employee_id", create_only=True),
            FieldMap(to="groups", delimiter="|"),
        ],
    )
    assert job.objects[0].fields[0].source == "employee_id"
    assert (job.title, job.description, job.owners) == ("People", "HR to the database", ["alice"])
    assert (job.enabled, job.batch_size, job.schedule) == (False, 50, Schedule(every="1h30m"))


# --- connection files ------------------------------------------------------------------

CONN_ERRORS = [
    (
        "provider",
        '[corp-ldap]\nprovider = "ldapp"\n',
        "connections.toml: [corp-ldap]: "
        'unknown provider "ldapp" (known: csv, excel, sqlite, ldap, ad, postgresql, mysql, scim, '
        "scim-inbound, entra, plugin)",
    ),
    (
        "provider-type",
        "[corp-ldap]\nprovider = 3\n",
        "connections.toml: [corp-ldap]: unknown provider 3 "
        "(known: csv, excel, sqlite, ldap, ad, postgresql, mysql, scim, scim-inbound, entra, "
        "plugin)",
    ),
    (
        "no-provider",
        '[hr-files]\ndirectory = "d"\n',
        'connections.toml: [hr-files]: missing required field "provider" '
        "(known: csv, excel, sqlite, ldap, ad, postgresql, mysql, scim, scim-inbound, entra, "
        "plugin)",
    ),
    (
        "id-key",
        '[hr-files]\nid = "hr"\nprovider = "csv"\ndirectory = "d"\n',
        'connections.toml: [hr-files].id: unknown field "id" (the table name is the id)',
    ),
    (
        "slug",
        '["HR Files"]\nprovider = "csv"\ndirectory = "d"\n',
        "connections.toml: [HR Files]: expected an id that is a slug",
    ),
    (
        "not-a-table",
        'provider = "csv"\n',
        'connections.toml: provider: expected a table such as [provider], got "csv"',
    ),
    (
        "missing",
        '[hr-files]\nprovider = "csv"\n',
        'connections.toml: [hr-files]: missing required field "directory"',
    ),
    (
        "unknown",
        '[hr-files]\nprovider = "csv"\ndirectory = "d"\ntitel = "x"\n',
        'connections.toml: [hr-files].titel: unknown field "titel" (did you mean "title"?)',
    ),
    (
        "type",
        '[hr-files]\nprovider = "csv"\ndirectory = 3\n',
        "connections.toml: [hr-files].directory: expected text, got 3",
    ),
    (
        "delimiter",
        '[hr-files]\nprovider = "csv"\ndirectory = "d"\ndelimiter = ";;"\n',
        'connections.toml: [hr-files].delimiter: expected exactly one character such as ";", '
        'got ";;"',
    ),
    (
        "quote",
        '[hr-files]\nprovider = "csv"\ndirectory = "d"\nquote_char = ""\n',
        "connections.toml: [hr-files].quote_char: expected exactly one character",
    ),
    (
        "encoding",
        '[hr-files]\nprovider = "csv"\ndirectory = "d"\nencoding = "utf-99"\n',
        "connections.toml: [hr-files].encoding: "
        'expected an encoding such as "latin-1", got "utf-99"',
    ),
    (
        "empty-path",
        '[hr-db]\nprovider = "sqlite"\npath = ""\n',
        'connections.toml: [hr-db].path: expected a path, got ""',
    ),
    (
        "syntax",
        '[hr-files]\nprovider = "csv"\ndirectory = data\n',
        "connections.toml: line 3, column 13: Invalid value",
    ),
]


@pytest.mark.parametrize(("text", "expected"), cases(CONN_ERRORS))
def test_connection_file_errors(text: str, expected: str) -> None:
    write(CONNS, text)
    assert expected in error_of(applied, CONNS)


def test_connection_problems_are_reported_together() -> None:
    write(CONNS, '[a]\nprovider = "ldapp"\n[b]\nprovider = "csv"\n[c]\nprovider = "sqlite"\n')
    lines = error_of(load_connections, CONNS).splitlines()
    assert lines == [
        'connections.toml: [a]: unknown provider "ldapp" '
        "(known: csv, excel, sqlite, ldap, ad, postgresql, mysql, scim, scim-inbound, entra, "
        "plugin)",
        'connections.toml: [b]: missing required field "directory"',
        'connections.toml: [c]: missing required field "path"',
    ]


def test_connections_load_with_ids_defaults_and_paths_against_the_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write(
        Path("conf/connections.toml"),
        """\
[hr-files]
provider = "csv"
directory = "data"
[archive]
provider = "csv"
directory = "../shared/./archive"
[absolute]
provider = "sqlite"
path = "/srv/idsync/people.sqlite"
[home]
provider = "sqlite"
title = "Mine"
path = "~/people.sqlite"
""",
    )
    assert load_connections(Path("conf/connections.toml")) == [
        CsvConnection(
            id="hr-files",
            title="",
            directory=str(tmp_path / "conf" / "data"),
            delimiter=",",
            quote_char='"',
            encoding="utf-8",
        ),
        CsvConnection(id="archive", directory=str(tmp_path / "shared" / "archive")),
        SqliteConnection(id="absolute", title="", path="/srv/idsync/people.sqlite"),
        SqliteConnection(id="home", title="Mine", path=str(tmp_path / "home" / "people.sqlite")),
    ]


def test_a_password_file_named_relative_is_read_against_the_files_folder(tmp_path: Path) -> None:
    """The runner reads the password in its own folder, not the one `connection apply`
    ran in: a path relative to the connections file must be stored absolute, as a
    sqlite path or a ca_file is, or every run fails with "file pg-pw does not exist"."""
    write(
        Path("conf/connections.toml"),
        """\
[warehouse]
provider = "postgresql"
host = "db.example.org"
database = "identity"
user = "idsync"
password = { file = "pg-pw" }
[env]
provider = "mysql"
host = "db.example.org"
database = "identity"
user = "idsync"
password = { env = "IDSYNC_MYSQL_PASSWORD" }
[absolute]
provider = "ldap"
urls = ["ldaps://ldap.example.org"]
bind_dn = "cn=idsync,dc=example,dc=org"
password = { file = "/etc/idsync/ldap-password" }
""",
    )
    warehouse, env, absolute = load_connections(Path("conf/connections.toml"))
    assert warehouse.password == SecretRef(file=str(tmp_path / "conf" / "pg-pw"))  # type: ignore[union-attr]
    assert env.password == SecretRef(env="IDSYNC_MYSQL_PASSWORD")  # type: ignore[union-attr]
    assert absolute.password == SecretRef(file="/etc/idsync/ldap-password")  # type: ignore[union-attr]


def test_an_empty_connections_file_has_none() -> None:
    write(CONNS, "# nothing yet\n")
    assert load_connections(CONNS) == []


# --- check_job -----------------------------------------------------------------------

CONNECTIONS: dict[str, Connection] = {
    "hr-files": CsvConnection(id="hr-files", directory="/srv/hr"),
    "hr-db": SqliteConnection(id="hr-db", path="/srv/people.sqlite"),
}
OBJ = {"keys": ["uid"], "fields": [{"to": "uid"}, {"to": "mail", "from": "email"}]}
BASE: dict[str, Any] = {
    "id": "people",
    "source": {"connection": "hr-files", "file": "people.csv"},
    "destination": {"connection": "hr-db", "table": "people"},
    "objects": [OBJ],
}
SEMANTIC_ERRORS = [
    (
        "source",
        {"source": {"connection": "hr", "file": "p.csv"}},
        '$.source.connection: unknown connection "hr" (known: hr-db, hr-files)',
    ),
    (
        "destination",
        {"destination": {"connection": "db"}},
        '$.destination.connection: unknown connection "db" (known: hr-db, hr-files)',
    ),
    ("no-objects", {"objects": []}, "$.objects: expected at least one [[objects]] entry, got none"),
    (
        "no-keys",
        {"objects": [{"keys": []}]},
        "$.objects[0].keys: expected at least one key field, got []",
    ),
    (
        "blank-key",
        {"objects": [{"keys": [" "]}]},
        '$.objects[0].keys[0]: expected a field name, got " "',
    ),
    (
        "key-not-mapped",
        {"objects": [{**OBJ, "keys": ["email"]}]},
        '$.objects[0].keys[0]: expected one of the "to" fields (uid, mail), got "email"',
    ),
    (
        "duplicate-to",
        {"objects": [{**OBJ, "fields": [{"to": "uid"}, {"to": "uid"}]}]},
        '$.objects[0].fields[1].to: expected each "to" field once, got "uid" again '
        "(first at $.objects[0].fields[0])",
    ),
    (
        "blank-to",
        {"objects": [{**OBJ, "fields": [{"to": "uid"}, {"to": ""}]}]},
        '$.objects[0].fields[1].to: expected a field name, got ""',
    ),
    (
        "blank-from",
        {"objects": [{**OBJ, "fields": [{"to": "uid", "from": ""}]}]},
        '$.objects[0].fields[0].from: expected a source field name, got ""',
    ),
    (
        "csv-file",
        {"source": {"connection": "hr-files"}},
        '$.source.file: expected a file name such as "people.csv", got nothing',
    ),
    (
        "sqlite-table",
        {"destination": {"connection": "hr-db", "table": ""}},
        '$.destination.table: expected a table name such as "people", got ""',
    ),
    (
        "batch-low",
        {"batch_size": 0},
        "$.batch_size: expected a whole number from 1 to 100000, got 0",
    ),
    (
        "batch-high",
        {"batch_size": 100_001},
        "$.batch_size: expected a whole number from 1 to 100000, got 100001",
    ),
    (
        "safety-count-negative",
        {"safety": {"max_count": -5}},
        "$.safety.max_count: expected a whole number from 0 up, got -5",
    ),
    (
        "safety-percent-negative",
        {"safety": {"max_percent": -1.5}},
        "$.safety.max_percent: expected a number from 0 to 100, got -1.5",
    ),
    (
        "safety-percent-above-100",
        {"safety": {"max_percent": 150}},
        "$.safety.max_percent: expected a number from 0 to 100, got 150",
    ),
    (
        "safety-percent-not-a-number",
        {"safety": {"max_percent": float("nan")}},
        "$.safety.max_percent: expected a number from 0 to 100, got nan",
    ),
    (
        "schedule",
        {"schedule": {"every": "hourly"}},
        '$.schedule.every: expected an interval such as "30s", "15m", "2h", "1d" or "1h30m", '
        'got "hourly"',
    ),
    (
        "two-objects",
        {"objects": [OBJ, {**OBJ, "type": "group"}]},
        "$.objects: expected one [[objects]] entry for sqlite, got 2: "
        "several object types need a directory provider",
    ),
    (
        "endpoint-delimiter",
        {"source": {"connection": "hr-files", "file": "p", "delimiter": ";;"}},
        '$.source.delimiter: expected exactly one character such as ";", got ";;"',
    ),
    (
        "endpoint-encoding",
        {"source": {"connection": "hr-files", "file": "p", "encoding": "x"}},
        '$.source.encoding: expected an encoding such as "latin-1", got "x"',
    ),
    (
        "multi-value",
        {"objects": [{**OBJ, "fields": [{"to": "uid", "delimiter": ""}]}]},
        '$.objects[0].fields[0].delimiter: expected a separator such as "|", got ""',
    ),
]


@pytest.mark.parametrize(("change", "expected"), cases(SEMANTIC_ERRORS))
def test_check_job_errors(change: dict[str, Any], expected: str) -> None:
    job = msgspec.convert({**BASE, **change}, Job)
    message = error_of(check_job, job, CONNECTIONS, FACTS, origin=JOB)
    assert f"jobs/people.toml: {expected}" in message.splitlines()


def test_check_job_reports_every_problem_at_once_and_names_the_job_without_a_file() -> None:
    job = msgspec.convert(
        {**BASE, "source": {"connection": "hr"}, "batch_size": 0, "objects": []}, Job
    )
    lines = error_of(check_job, job, {}, FACTS).splitlines()
    assert lines == [
        'job "people": $.source.connection: unknown connection "hr" (known: none)',
        'job "people": $.destination.connection: unknown connection "hr-db" (known: none)',
        'job "people": $.objects: expected at least one [[objects]] entry, got none',
        'job "people": $.batch_size: expected a whole number from 1 to 100000, got 0',
    ]


def test_a_valid_job_passes() -> None:
    check_job(msgspec.convert({**BASE, "schedule": {"every": "15m"}}, Job), CONNECTIONS, FACTS)
    check_job(msgspec.convert({**BASE, "objects": [{"keys": ["any"]}]}, Job), CONNECTIONS, FACTS)


# --- intervals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("2h", 7200),
        ("1d", 86400),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("1d2h3m4s", 93784),
        ("1m500ms", 60.5),
        (" 5m ", 300),
    ],
)
def test_intervals(text: str, seconds: float) -> None:
    assert parse_interval(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hourly",
        "5",
        "1.5h",
        "30m1h",
        "-5m",
        "5 m",
        "1H",
        "ms",
        "1h1h",
        "0s",
        "0h0m",
    ],
)
def test_bad_intervals_show_a_valid_one(text: str) -> None:
    message = error_of(parse_interval, text)
    assert "expected an interval" in message
    assert '"30s"' in message and f"got {json.dumps(text)}" in message


# --- the documented examples -------------------------------------------------------------


def test_the_examples_load_and_pass_their_checks() -> None:
    connections = load_connections(EXAMPLES / "connections.toml")
    by_id = {c.id: c for c in connections}
    assert by_id["hr-files"] == CsvConnection(
        id="hr-files",
        title="HR exports",
        owners=["hr-it"],
        directory=str(EXAMPLES / "data"),
        delimiter=";",
    )
    assert by_id["hr-db"] == SqliteConnection(
        id="hr-db",
        title="People database",
        owners=["hr-it"],
        path=str(EXAMPLES / "data" / "people.sqlite"),
    )
    job = load_job(EXAMPLES / "jobs" / "hr-to-sqlite.toml")
    check_job(job, by_id, FACTS)
    assert unowned_connection_problems(job, by_id) == []  # an owned job, owned connections
    (objects,) = job.objects
    assert (job.source.connection, job.source.file) == ("hr-files", "people.csv")
    assert (job.destination.connection, job.destination.table) == ("hr-db", "people")
    assert objects.keys == ["employee_id"]
    assert objects.on_destination_only == "delete"
    assert job.schedule is not None and job.schedule.every is not None
    assert parse_interval(job.schedule.every) == 3600
    groups = next(f for f in objects.fields if f.to == "groups")
    assert groups.delimiter == "|"
