"""A CSV export into a SCIM service (scim2-server), users and their groups, in every shape
of run — a whole run, a run scoped to keys, an incremental run — by the actions a SCIM
service sees: create, update of complex attributes, a manager, a member added and
removed, a leaver disabled then back. Each shape's preview plans what it runs, and a run
after a successful one plans nothing."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.settings import Settings
from tests.scim_server import resources

from .conftest import RunServices
from .ldap_helpers import define
from .previews import preview_json
from .test_scim_flow import ENTERPRISE, connections

JOB = "scim-matrix"
OLD = "2026-01-01T00:00:00Z"
NEW = "2026-06-01T00:00:00Z"
NEWER = "2026-07-01T00:00:00Z"
Row = dict[str, str]

BY_USER_NAME = '{ type = "user", by = "userName" }'
JOB_TOML = f"""id = "{JOB}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "scim" }}
safety = {{ max_percent = 100 }}
changes = {{ field = "at" }}

[[objects]]
type = "user"
keys = ["userName"]
on_destination_only = "disable"
restore = true
leavers = {{ when = {{ field = "status", equals = "left" }}, action = "disable" }}
fields = [
  {{ to = "userName", from = "id" }},
  {{ to = "name.givenName", from = "name" }},
  {{ to = "displayName", from = "name" }},
  {{ to = 'emails[type eq "work"].value', from = "mail" }},
  {{ to = "roles.value", from = "roles", delimiter = "|" }},
  {{ to = "{ENTERPRISE}:department", from = "dept" }},
  {{ to = "{ENTERPRISE}:manager.value", from = "boss", resolve = {BY_USER_NAME} }},
]

[[objects]]
type = "group"
keys = ["displayName"]
on_destination_only = "delete"
source = {{ file = "groups.csv" }}
destination = {{ object_classes = ["Group"] }}
fields = [
  {{ to = "displayName", from = "group" }},
  {{ to = "members", delimiter = "|", resolve = {{ type = "user", by = "userName" }} }},
]
"""


class Service:
    """One job into a fresh tenant of the test SCIM server."""

    def __init__(self, url: str, folder: Path, session: Session, settings: Settings) -> None:
        self.url, self.folder, self.session, self.settings = url, folder, session, settings

    async def define(self) -> None:
        await define(self.session, self.folder, connections(self.folder, self.url), JOB_TOML)

    def write(self, people: list[Row], groups: list[Row]) -> None:
        data = self.folder / "data"
        for name, rows, header in (
            ("people.csv", people, ["id", "name", "mail", "roles", "dept", "boss", "status", "at"]),
            ("groups.csv", groups, ["group", "members", "at"]),
        ):
            with (data / name).open("w", newline="", encoding="utf-8") as out:
                writer = csv.DictWriter(out, fieldnames=header, delimiter=";")
                writer.writeheader()
                writer.writerows(rows)

    async def preview(self, capsys: pytest.CaptureFixture[str], *options: str) -> dict[str, Any]:
        return await preview_json(self.settings, capsys, JOB, *options)

    async def run(
        self,
        capsys: pytest.CaptureFixture[str],
        shape: str = "whole",
        keys: Sequence[str] = (),
    ) -> RunFinished:
        """Preview, then run the same way: the same plan, the same hash."""
        scoped = list(keys) if shape == "key" else None
        changed = shape == "incremental"
        options = [o for key in scoped or [] for o in ("--key", key)]
        options += ["--changed-only"] if changed else []
        previewed = await self.preview(capsys, *options)
        _, end = await follow_run(self.session, JOB, scoped, changed_only=changed)
        assert isinstance(end, RunFinished), end
        assert end.plan_hash == previewed["plan_hash"], "the preview planned another plan"
        return end

    def state(self) -> dict[str, Any]:
        """userName → what a person checks of each user; displayName → members' names."""
        users = resources(self.url)
        names = {u["id"]: u["userName"] for u in users}
        out: dict[str, Any] = {}
        for u in users:
            extension = u.get(ENTERPRISE, {})
            out[u["userName"]] = {
                "active": u.get("active", True),
                "mail": [e["value"] for e in u.get("emails", []) if e.get("type") == "work"],
                "roles": sorted(r["value"] for r in u.get("roles", [])),
                "dept": extension.get("department"),
                "boss": names.get(extension.get("manager", {}).get("value", "")),
            }
        for g in resources(self.url, "/Groups"):
            out[g["displayName"]] = sorted(names.get(m["value"], "?") for m in g.get("members", []))
        return out


def person(n: int, boss: int | None = None, at: str = OLD, **more: str) -> Row:
    row = {
        "id": f"p{n}",
        "name": f"Person {n}",
        "mail": f"p{n}@example.org",
        "roles": "staff|wiki",
        "dept": "Sales",
        "boss": f"p{boss}" if boss else "",
        "status": "active",
        "at": at,
    }
    return row | more


def group(name: str, *members: int, at: str = OLD) -> Row:
    return {"group": name, "members": "|".join(f"p{m}" for m in members), "at": at}


SHAPES = ["whole", "key", "incremental"]


@pytest.fixture
def service(scim_url: str, tmp_path: Path, session: Session, settings: Settings) -> Service:
    return Service(scim_url, tmp_path / "job", session, settings)


@pytest.mark.parametrize("shape", SHAPES)
async def test_changes_in_every_shape_leave_the_service_as_a_whole_run(
    service: Service, services: RunServices, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    s = service
    await s.define()
    s.write([person(1), person(2, boss=1), person(3, boss=1)], [group("team", 1, 2)])
    async with services():
        first = await s.run(capsys)
        assert (first.stats.created, first.stats.failed) == (4, 0), first.stats
        assert s.state()["p2"]["boss"] == "p1"
        assert s.state()["team"] == ["p1", "p2"]
        for again_shape in SHAPES:
            again = await s.run(capsys, again_shape, ["p1", "p2", "team"])
            assert (again.stats.written, again.stats.failed) == (0, 0), (again_shape, again.stats)

        # p2: new address, roles in another order and one more, a new manager; p3 joins
        # the team; p4 is new, managed by p3, in the team too.
        s.write(
            [
                person(1),
                person(2, boss=3, at=NEW, mail="p2.new@example.org", roles="vpn|wiki|staff"),
                person(3, boss=1),
                person(4, boss=3, at=NEW),
            ],
            [group("team", 1, 2, 3, 4, at=NEW)],
        )
        changed = await s.run(capsys, shape, ["p2", "p4", "team"])
        assert (changed.stats.created, changed.stats.updated, changed.stats.failed) == (1, 2, 0), (
            changed.stats
        )
        state = s.state()
        assert state["p2"] == {
            "active": True,
            "mail": ["p2.new@example.org"],
            "roles": ["staff", "vpn", "wiki"],
            "dept": "Sales",
            "boss": "p3",
        }
        assert state["p4"]["boss"] == "p3"
        assert state["team"] == ["p1", "p2", "p3", "p4"]
        for again_shape in SHAPES:
            again = await s.run(capsys, again_shape, ["p2", "p4", "team"])
            assert (again.stats.written, again.stats.failed) == (0, 0), (again_shape, again.stats)

        # p2 leaves (marked in the export), p4 is taken out of the team
        s.write(
            [
                person(1),
                person(2, boss=3, at=NEWER, mail="p2.new@example.org", roles="vpn|wiki|staff")
                | {"status": "left"},
                person(3, boss=1),
                person(4, boss=3, at=NEW),
            ],
            [group("team", 1, 2, 3, at=NEWER)],
        )
        left = await s.run(capsys, shape, ["p2", "team"])
        assert (left.stats.disabled, left.stats.updated, left.stats.failed) == (1, 1, 0), left.stats
        state = s.state()
        assert state["p2"]["active"] is False
        assert state["team"] == ["p1", "p2", "p3"]
        again = await s.run(capsys)
        assert (again.stats.written, again.stats.failed) == (0, 0), again.stats

        # p2 is back
        s.write(
            [
                person(1),
                person(2, boss=3, at="2026-08-01T00:00:00Z", mail="p2.new@example.org")
                | {"roles": "vpn|wiki|staff"},
                person(3, boss=1),
                person(4, boss=3, at=NEW),
            ],
            [group("team", 1, 2, 3, at=NEWER)],
        )
        back = await s.run(capsys, shape, ["p2"])
        assert (back.stats.enabled, back.stats.failed) == (1, 0), back.stats
        assert s.state()["p2"]["active"] is True
        for again_shape in SHAPES:
            again = await s.run(capsys, again_shape, ["p2", "team"])
            assert (again.stats.written, again.stats.failed) == (0, 0), (again_shape, again.stats)
