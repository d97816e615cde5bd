"""A job of two object types (people and groups, whose members and managers are
`resolve` fields) between PostgreSQL and MariaDB, both ways, with integer keys the source
spells with leading zeros: the first run applies, and every run after it — whole, scoped
to keys, incremental — plans nothing; a person whose record fails keeps their object and
their memberships.

The sides are tables of both servers, planned in this process: a job of several types
writes to a directory (`job apply` refuses it for a table), so what is tried here is
reading and planning them — the services' matrix with SQL sources and a directory-like
destination is tests/integration/test_sql_matrix_services.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
import pytest

from schemas.connections import Connection
from schemas.jobs import (
    Changes,
    Endpoint,
    FieldMap,
    Job,
    ObjectMapping,
    ObjectScope,
    Resolve,
    Safety,
)
from schemas.plan import Change
from services.providers.base import Outcome
from services.runner.planning import PlannedRun
from services.runner.planning.reading import Reading
from services.runner.planning.sides import open_pair
from tests.mysql_server import Server as MariaDb
from tests.postgresql_server import Server as Postgresql
from tests.sql_servers import sql_connection

from .test_scoped_reads import plan_between
from .test_sql_matrix_typed import shown

DEPARTMENTS = {"map": {"Sales": "S", "IT": "I"}}  # no entry: the record fails

PG_SOURCE = """
CREATE TABLE hr (emp text, mail text, boss_mail text, dept text, modified timestamptz);
INSERT INTO hr VALUES
 ('001', 'a@x', NULL, 'Sales', '2026-01-01'), ('002', 'b@x', 'a@x', 'IT', '2026-01-01'),
 ('003', 'c@x', 'a@x', 'Sales', '2026-01-01');
CREATE TABLE hr_groups (gid text, members text, modified timestamptz);
INSERT INTO hr_groups VALUES ('g1', 'a@x|c@x', '2026-01-01'), ('g2', 'b@x', '2026-01-01');
"""
MY_SOURCE = PG_SOURCE.replace("timestamptz", "DATETIME").replace("text", "VARCHAR(40)")
PG_TARGET = """
CREATE TABLE people (id integer PRIMARY KEY, mail text, boss integer, dept text);
CREATE TABLE groups (id text PRIMARY KEY, members integer[]);
"""
MY_TARGET = """
CREATE TABLE people (id INT PRIMARY KEY, mail VARCHAR(40), boss INT, dept VARCHAR(10));
CREATE TABLE `groups` (id VARCHAR(10) PRIMARY KEY, members TEXT);
"""


def job() -> Job:
    users = ObjectMapping(
        type="user",
        keys=["id"],
        fields=[
            FieldMap(to="id", from_="emp"),
            FieldMap(to="mail"),
            FieldMap(to="boss", from_="boss_mail", resolve=Resolve(type="user", by="mail")),
            FieldMap(to="dept", transform=DEPARTMENTS),
        ],
        on_destination_only="delete",
    )
    groups = ObjectMapping(
        type="group",
        keys=["id"],
        fields=[
            FieldMap(to="id", from_="gid"),
            FieldMap(to="members", delimiter="|", resolve=Resolve(type="user", by="mail")),
        ],
        source=ObjectScope(table="hr_groups"),
        destination=ObjectScope(table="groups"),
        on_destination_only="delete",
    )
    return Job(
        id="types",
        source=Endpoint(connection="src", table="hr"),
        destination=Endpoint(connection="dst", table="people"),
        objects=[users, groups],
        changes=Changes(field="modified"),
        safety=Safety(max_percent=100),
    )


class Pair(msgspec.Struct):
    source: Connection
    target: Connection
    run_source: Callable[[str], object]

    async def plan(
        self, keys: list[str] | None = None, reading: Reading | None = None
    ) -> PlannedRun:
        return await plan_between(self.source, self.target, job(), keys, reading or Reading())

    async def apply(self, changes: Sequence[Change]) -> list[Outcome]:
        """The changes applied in the plan's order, each type's to its own table."""
        the_job = job()
        outcomes: list[Outcome] = []
        targets = {}
        for at, mapping in enumerate(the_job.objects):
            target = open_pair(self.source, self.target, the_job, at)[1]
            await target.open(write=True)
            targets[mapping.type] = target
        try:
            for change in changes:
                outcomes += await targets[change.object_type].apply([change])
        finally:
            for target in targets.values():
                await target.close()
        return outcomes


@pytest.fixture(
    params=[
        "postgresql-to-mariadb",
        "mariadb-to-postgresql",
        "postgresql-to-new-mariadb",
        "mariadb-to-new-postgresql",
    ]
)
def pair(
    request: pytest.FixtureRequest, pg_database: Postgresql, my_database: MariaDb, tmp_path: Path
) -> Pair:
    pg = sql_connection("postgresql", pg_database, tmp_path / "pg", "pg")
    my = sql_connection("mysql", my_database, tmp_path / "my", "my")
    if request.param.startswith("postgresql-to-"):
        pg_database.psql(PG_SOURCE)
        if "new" not in request.param:  # else made by the first write
            my_database.sql(MY_TARGET)
        src, dst, run = pg, my, pg_database.psql
    else:
        my_database.sql(MY_SOURCE)
        if "new" not in request.param:
            pg_database.psql(PG_TARGET)
        src, dst, run = my, pg, my_database.sql
    return Pair(msgspec.structs.replace(src, id="src"), msgspec.structs.replace(dst, id="dst"), run)


async def test_two_types_with_references_plan_nothing_after_their_first_run(pair: Pair) -> None:
    first = await pair.plan()
    assert not first.record_errors
    assert [o.error for o in await pair.apply(first.plan.changes)] == [None] * len(
        first.plan.changes
    )
    mark = first.watermark
    again = {
        "full": await pair.plan(),
        "keys": await pair.plan(keys=["001", "2", "3", "g1", "g2"]),
        "incremental": await pair.plan(reading=Reading(incremental=True, since=mark)),
    }
    for shape, planned in again.items():
        assert shown(planned) == [], (shape, shown(planned))
        assert not planned.record_errors, shape


async def test_a_person_whose_record_fails_keeps_their_object_and_memberships(
    pair: Pair,
) -> None:
    first = await pair.plan()
    await pair.apply(first.plan.changes)
    mark = first.watermark
    pair.run_source("UPDATE hr SET dept = 'Nowhere', modified = '2026-02-01' WHERE emp = '003'")
    for keys, reading in [
        (None, Reading()),
        (["3", "003", "g1"], Reading()),
        (None, Reading(incremental=True, since=mark)),
    ]:
        planned = await pair.plan(keys, reading)
        assert [e.key for e in planned.record_errors] == ["003"], keys
        assert shown(planned) == [], (keys, shown(planned))
