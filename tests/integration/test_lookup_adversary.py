"""A create a plan makes is a new object, as the job compares keys (with case): applied
to a table whose key column compares without case (SQLite's NOCASE, a PostgreSQL
nondeterministic collation, MariaDB's default utf8mb4_general_ci), it must not land on
the object another key spelled in another case already is ("E2" beside a new "e2").

The plan is the same whether the destination was read whole or its keys looked up
(test_changed_lookups_providers.py); what is tried here is what applying it does."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from schemas.jobs import Endpoint
from tests.postgresql_server import Server as Postgresql

from .test_bounded_text import create
from .test_changed_lookups_providers import (
    CHANGED,
    KEYED,
    Sql,
    job,
    my_module,
    pg_module,
    source,
    sql,
)
from .test_scoped_reads import applied, plan_between

__all__ = ["my_module", "pg_module", "sql"]  # fixtures

WITHOUT_CASE = {
    "sqlite": "id TEXT COLLATE NOCASE{key}, name TEXT",
    "postgresql": "id text COLLATE without_case{key}, name text",
    "mariadb": "id VARCHAR(8) COLLATE utf8mb4_general_ci{key}, name VARCHAR(8)",
}


@pytest.mark.parametrize("there", ["E2", "\u00e92"], ids=["in another case", "accented"])
@pytest.mark.parametrize("unique", [False, True], ids=["no index", "a unique key"])
async def test_a_create_never_lands_on_an_object_whose_key_differs_in_case(
    sql: Sql, tmp_path: Path, unique: bool, there: str
) -> None:
    """MariaDB's utf8mb4_general_ci ignores accents too: "é2" is "e2" to it."""
    name = f"cased_{sql.kind}_{int(unique)}_{len(there.encode())}"
    if isinstance(sql.server, Postgresql):
        sql.server.psql(
            "CREATE COLLATION IF NOT EXISTS without_case "
            "(provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
        )
    columns = WITHOUT_CASE[sql.kind].format(key=" PRIMARY KEY" if unique else "")
    create(sql, tmp_path, name, columns, f"('{there}', 'Old')")
    hr = source(tmp_path, [("e2", "Grace", CHANGED)])
    the_job = job(KEYED, Endpoint(connection="dir", table=name))
    planned = await plan_between(hr, sql.connection(), the_job, None)
    assert [f"{c.action} {c.key}" for c in planned.plan.changes] == ["create e2"]
    [done], held = await applied(hr, sql.connection(), the_job, planned.plan.changes)
    stored = sorted((r["id"], r["name"]) for r in held)
    # Refused (a unique key that holds the key without case), or made beside it.
    expected = [(there, "Old")] if done.error else sorted([(there, "Old"), ("e2", "Grace")])
    assert stored == expected


async def test_an_update_and_a_delete_touch_their_own_object_alone(
    sql: Sql, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two objects whose keys differ in case ("E2" and "e2", no unique index): the job
    updates the one and leaves the other alone, though the source no longer has it — the
    source holds its key in another case, which the column takes for the same. A delete
    of "e2" (as a job comparing keys with case would apply one) takes "e2" alone: the
    column's comparison takes neither for the other."""
    name = f"twins_{sql.kind}"
    if isinstance(sql.server, Postgresql):
        sql.server.psql(
            "CREATE COLLATION IF NOT EXISTS without_case "
            "(provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
        )
    columns = WITHOUT_CASE[sql.kind].format(key="")
    create(sql, tmp_path, name, columns, "('E2', 'Old'), ('e2', 'Older')")
    hr = source(tmp_path, [("E2", "New", CHANGED)])
    mapping = msgspec.structs.replace(KEYED, on_destination_only="delete")
    the_job = job(mapping, Endpoint(connection="dir", table=name))
    planned = await plan_between(hr, sql.connection(), the_job, None)
    [update] = planned.plan.changes
    assert f"{update.action} {update.key}" == "update E2"
    assert planned.plan.counts.skipped == 1
    assert [w for w in planned.plan.warnings if "'e2' left alone" in w], planned.plan.warnings
    done, held = await applied(hr, sql.connection(), the_job, [update])
    left = sorted((r["id"], r["name"]) for r in held)
    delete = msgspec.structs.replace(
        update, action="delete", key="e2", match={"id": "e2"}, set={}, before={}
    )
    outcomes, held = await applied(hr, sql.connection(), the_job, [delete])
    outcomes = done + outcomes
    stored = sorted((r["id"], r["name"]) for r in held)
    assert [outcome.error for outcome in outcomes] == [None, None]
    assert left == [("E2", "New"), ("e2", "Older")]
    assert stored == [("E2", "New")]


@pytest.mark.parametrize("unique", [False, True], ids=["no index", "a unique key"])
async def test_a_create_in_a_citext_key_column_never_lands_on_its_key_in_another_case(
    pg_module: Postgresql, tmp_path: Path, unique: bool
) -> None:
    sql = Sql("postgresql", tmp_path, pg_module)
    pg_module.psql("CREATE EXTENSION IF NOT EXISTS citext")
    name = f"cased_citext_{int(unique)}"
    key = " PRIMARY KEY" if unique else ""
    create(sql, tmp_path, name, f"id citext{key}, name text", "('E2', 'Old')")
    hr = source(tmp_path, [("e2", "Grace", CHANGED)])
    the_job = job(KEYED, Endpoint(connection="dir", table=name))
    planned = await plan_between(hr, sql.connection(), the_job, None)
    [done], held = await applied(hr, sql.connection(), the_job, planned.plan.changes)
    stored = sorted((r["id"], r["name"]) for r in held)
    assert (done.error is not None) == unique
    assert stored == ([("E2", "Old")] if unique else [("E2", "Old"), ("e2", "Grace")])
