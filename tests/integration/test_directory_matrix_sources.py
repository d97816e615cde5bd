"""A real slapd as the SOURCE of jobs into SQLite and CSV, run after run: each run
planned both ways — the lean planner (as for a large destination) and in memory — must
give one plan and one hash, and a run after a successful one plans nothing, whatever the
entries hold: several values in the server's order, binary values, DNs, attributes the
job names in another case, a value that fails its transformation."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import msgspec
import pytest

from schemas.connections import Connection, CsvConnection, SqliteConnection
from schemas.jobs import Job
from services.runner.planning import PlannedRun, Sides, entry, low_memory, plan_job, spill
from services.runner.planning.sides import apply_by_type, open_pair
from tests.ldap_server import Slapd

from .ldap_helpers import admin, connection

ENTRIES: dict[str, dict[str, Any]] = {
    "p1": {"mail": "p1@x.org", "description": ["b", "a"], "title": "01.02.1990"},
    "p2": {"mail": ["p2@x.org", "P2@y.org"], "jpegPhoto": b"\xff\xd8\x00 binary"},
    "p3": {"mail": "p3@x.org", "title": "soon", "seeAlso": "cn=Team A,ou=T,dc=example,dc=org"},
    "P4": {"mail": "p4@x.org", "description": ["x|y", "z"], "jpegPhoto": b"\x00"},
}

FIELDS: list[dict[str, Any]] = [
    {"to": "id", "from": "UID"},
    {"to": "mail", "from": "MAIL", "delimiter": "|"},
    {"to": "about", "from": "description", "delimiter": ";"},
    {"to": "photo", "from": "jpegphoto"},
    {"to": "see", "from": "seealso"},
    {"to": "where", "from": "dn"},
]
BORN = {"to": "born", "from": "title", "transform": {"date": "%d.%m.%Y", "to": "%Y"}}
SHAPES: dict[str, list[dict[str, Any]]] = {"copied": FIELDS, "failing": [*FIELDS, BORN]}
MAPPINGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "where": {"where": {"not": {"field": "MAIL", "equals": "p3@x.org"}}},
    "case-insensitive": {"case_insensitive": True},
    "leavers": {"leavers": {"when": {"field": "title", "equals": "soon"}, "action": "delete"}},
}
COLUMNS = ["id", "mail", "about", "photo", "see", "where", "born"]


def add_entries(slapd: Slapd, base: str) -> None:
    with admin(slapd) as conn:
        for uid, values in ENTRIES.items():
            attributes = {"uid": uid, "sn": "S", "cn": uid, **values}
            assert conn.add(f"uid={uid},{base}", ["inetOrgPerson"], attributes), conn.result


class Copy:
    def __init__(
        self, slapd: Slapd, base: str, folder: Path, kind: str, shape: str, mapping: str
    ) -> None:
        destination: Connection
        if kind == "sqlite":
            destination = SqliteConnection(id="db", path=str(folder / "people.db"))
            table: dict[str, Any] = {"table": "people"}
        else:
            (folder / "out").mkdir()
            destination = CsvConnection(id="db", directory=str(folder / "out"))
            table = {"file": "people.csv"}
        self.connections: tuple[Connection, Connection] = (
            connection(folder, slapd.url, id="dir"),
            destination,
        )
        fields = SHAPES[shape]
        self.job = msgspec.convert(
            {
                "id": "dir-to-db",
                "source": {
                    "connection": "dir",
                    "container": base,
                    "object_classes": ["inetOrgPerson"],
                    **{k: v for k, v in MAPPINGS[mapping].items() if k == "where"},
                },
                "destination": {"connection": "db", **table},
                "safety": {"max_percent": 100},
                "objects": [
                    {
                        "keys": ["id"],
                        "on_destination_only": "delete",
                        "fields": [f for f in fields if f["to"] in COLUMNS],
                        **{k: v for k, v in MAPPINGS[mapping].items() if k != "where"},
                    }
                ],
            },
            Job,
        )

    async def plan(self, monkeypatch: pytest.MonkeyPatch, *, lean: bool) -> tuple[PlannedRun, bool]:
        chosen: list[bool] = []
        monkeypatch.setattr(low_memory, "LEAN_ABOVE", -1 if lean else 10**9)

        async def choice(*args: Any) -> bool:
            chosen.append(lean and await low_memory.lean_enough(*args))
            return chosen[-1]

        monkeypatch.setattr(entry, "lean_enough", choice)
        source, destination = open_pair(*self.connections, self.job, 0)
        await source.open(write=False)
        await destination.open(write=True)
        try:
            planned = await plan_job(self.job, Sides(source, destination, [], self.connections))
        finally:
            await source.close()
            await destination.close()
        return planned, chosen == [True]

    async def both(self, monkeypatch: pytest.MonkeyPatch) -> PlannedRun:
        """The plan in memory, once the lean planner's has been checked to be the same
        (but for the source values a transformed field keeps for the history, which a
        plan made in little memory does not: docs/history.md)."""
        held, _ = await self.plan(monkeypatch, lean=False)
        chosen, lean = await self.plan(monkeypatch, lean=True)
        assert lean
        unsourced = [msgspec.structs.replace(c, sources={}) for c in held.plan.changes]
        assert list(chosen.plan.changes) == unsourced
        assert chosen.plan.counts == held.plan.counts
        assert chosen.record_errors == held.record_errors
        if unsourced == list(held.plan.changes):
            assert chosen.plan.hash == held.plan.hash
        return held

    async def apply(self, planned: PlannedRun) -> None:
        for _, phase in itertools.groupby(planned.plan.changes, key=lambda c: c.phase):
            batch = list(phase)
            outcomes = await apply_by_type(self.job, self.connections[1], batch)
            assert [o.error for o in outcomes] == [None] * len(batch), outcomes


@pytest.mark.parametrize("mapping", list(MAPPINGS))
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("kind", ["sqlite", "csv"])
async def test_runs_from_a_directory_plan_alike_lean_and_in_memory_and_settle(
    slapd: Slapd,
    ldap_base: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    shape: str,
    mapping: str,
) -> None:
    monkeypatch.setattr(spill, "RUN_SIZE", 2)
    add_entries(slapd, ldap_base)
    if kind == "sqlite":
        import sqlite3

        with sqlite3.connect(tmp_path / "people.db") as db:
            db.execute(
                "CREATE TABLE people (id TEXT, mail TEXT, about TEXT, photo BLOB, see TEXT, "
                "where_ TEXT, born TEXT)".replace("where_", '"where"')
            )
    copy = Copy(slapd, ldap_base, tmp_path, kind, shape, mapping)
    first = await copy.both(monkeypatch)
    left_out = {"p3"} if mapping in ("where", "leavers") else set()
    if shape == "failing":
        left_out.add("p3")
    assert first.plan.counts.create == 4 - len(left_out), first.plan.counts
    await copy.apply(first)

    again = await copy.both(monkeypatch)
    assert list(again.plan.changes) == [], again.plan.changes

    with admin(slapd) as conn:  # one value more, one entry gone
        assert conn.modify(f"uid=p1,{ldap_base}", {"description": [("MODIFY_ADD", ["c"])]}), (
            conn.result
        )
        assert conn.delete(f"uid=P4,{ldap_base}"), conn.result
    changed = await copy.both(monkeypatch)
    assert sorted((c.action, c.key) for c in changed.plan.changes) == [
        ("delete", "P4"),
        ("update", "p1"),
    ], changed.plan.changes
    await copy.apply(changed)
    settled = await copy.both(monkeypatch)
    assert list(settled.plan.changes) == [], settled.plan.changes
