"""A SCIM source read by offset (`startIndex`) skips a user when, between two pages, a
user before it is deleted and another added: the total stays the same, every user after
the deleted one moves back a place, and the next page starts one past where it should.
The skipped user looked absent, and the run deleted or disabled its object. A full run
now looks its absent objects up in the source first (planning/absence.py): one found
fails the run (and a preview the same way), which is planned again later, and nothing
is written.

Against a real SCIM server (scim2-server), the user deleted and the other added between
the first page and the second by a hook on the provider's requests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from core.errors import Transient
from schemas.connections import Connection, ScimConnection, SecretRef, SqliteConnection
from schemas.events import RunDeliveryFailed, RunFinished
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, ObjectScope
from services.cli.client import Session
from services.cli.main import build_parser
from services.cli.watch import follow_run
from services.common.reading import run_events
from services.common.settings import Settings
from services.providers.scim import connection as scim_connection
from services.providers.scim.provider import ScimProvider
from services.runner.planning import PlannedRun, low_memory
from tests.scim_server import TOKEN, client, resources

from .conftest import RunServices
from .ldap_helpers import define
from .test_scoped_reads import plan_between, table

USERS = ["u1", "u2", "u3", "u4", "u5", "u6", "u7"]
PAGE = 3
"""Users a page: the first page read, the first user on it is deleted and u8 added (after
the 4th), and the page from index 4 starts one past the user that was 4th: it is
skipped. The service lists its users in an order of its own (scim2-server: by id)."""


def add(url: str, endpoint: str, name: str) -> None:
    if endpoint == "/Users":
        body: dict[str, Any] = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "name": {"givenName": name.upper()},
        }
    else:
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}
    with client(url) as http:
        assert http.post(endpoint, json=body).status_code == 201


def remove(url: str, endpoint: str, name: str) -> None:
    attribute = "userName" if endpoint == "/Users" else "displayName"
    [found] = [r for r in resources(url, endpoint) if r[attribute] == name]
    with client(url) as http:
        assert http.delete(f"{endpoint}/{found['id']}").status_code == 204


def listed(url: str) -> list[str]:
    """The users' names in the order the service lists them."""
    return [user["userName"] for user in resources(url)]


class Churn:
    """Once, as the page from `at` of `url`'s users is asked for: the first user the
    service lists is deleted (`gone`) and `new` added where it is listed after the user
    that was `at`-th (`skipped`): that one moves back onto the page already read, and
    the total stays the same."""

    def __init__(self, url: str, new: str = "u8", at: int = PAGE + 1) -> None:
        self.url, self.new, self.at = url, new, at
        self.done = False
        self.gone = self.skipped = ""

    def before(self, base: str, path: str, params: Mapping[str, str | int] | None) -> None:
        if self.done or path != "/Users" or base != self.url.rstrip("/"):
            return
        if params is None or "filter" in params or int(params.get("startIndex", 1)) != self.at:
            return
        self.done = True
        order = listed(self.url)
        self.gone, self.skipped = order[0], order[self.at - 1]
        remove(self.url, "/Users", self.gone)
        while True:  # a new user's id, and so its place, is the service's to choose
            add(self.url, "/Users", self.new)
            order = listed(self.url)
            if order.index(self.new) > order.index(self.skipped):
                return
            remove(self.url, "/Users", self.new)


@pytest.fixture
def churn(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Churn]]:
    """The churns to make, hooked in every SCIM request the provider sends."""
    churns: list[Churn] = []
    asked = scim_connection.Session.get_json

    async def get_json(
        self: scim_connection.Session, path: str, params: Mapping[str, str | int] | None = None
    ) -> bytes:
        for each in churns:
            each.before(self.base, path, params)
        return await asked(self, path, params)

    monkeypatch.setattr(scim_connection.Session, "get_json", get_json)
    yield churns


def scim(url: str, tmp_path: Path, name: str = "hr") -> ScimConnection:
    (tmp_path / "token").write_text(TOKEN + "\n")
    token = SecretRef(file=str(tmp_path / "token"))
    return ScimConnection(id=name, url=url, token=token, page_size=PAGE)


def users(action: str = "delete", to: str = "login") -> ObjectMapping:
    name = "name.givenName" if to == "userName" else "name"
    fields = [FieldMap(to=to, from_="userName"), FieldMap(to=name, from_="name.givenName")]
    return ObjectMapping(keys=[to], fields=fields, on_destination_only=action)  # type: ignore[arg-type]


def people(path: Path, logins: list[str]) -> None:
    table(path, "people", ["login", "name"], [(login, login.upper()) for login in logins])


def logins(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        found = [row[0] for row in db.execute("SELECT login FROM people ORDER BY login")]
    db.close()
    return found


def to_table(the_users: ObjectMapping, query: str | None = None) -> Job:
    return Job(
        id="people",
        source=Endpoint(connection="hr", query=query),
        destination=Endpoint(connection="db", table="people"),
        objects=[the_users],
    )


def shown(run: PlannedRun) -> list[str]:
    return sorted(f"{c.action} {c.object_type} {c.key}" for c in run.plan.changes)


async def plan(source: Connection, target: Connection, the_job: Job, **patched: Any) -> PlannedRun:
    return await plan_between(source, target, the_job, None, **patched)


@pytest.mark.parametrize("lean", [False, True], ids=["in memory", "little memory"])
async def test_a_user_the_pages_skipped_is_found_and_not_deleted(
    scim_url: str,
    tmp_path: Path,
    churn: list[Churn],
    lean: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if lean:
        monkeypatch.setattr(low_memory, "LEAN_ABOVE", -1)  # even a small destination
    for name in USERS:
        add(scim_url, "/Users", name)
    people(tmp_path / "db.sqlite", USERS)
    source = scim(scim_url, tmp_path)
    target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))

    # The hole: read as before (the source not said to miss records), the user skipped
    # looks absent, and is deleted.
    first = Churn(scim_url)
    churn.append(first)
    blind = await plan(source, target, to_table(users()), misses_records=lambda: False)
    assert shown(blind) == ["create user u8", f"delete user {first.skipped}"]

    # Now: the same skip again (u8 deleted, the user deleted back) is refused.
    remove(scim_url, "/Users", "u8")
    add(scim_url, "/Users", first.gone)
    second = Churn(scim_url)
    churn.append(second)
    with pytest.raises(Transient) as refused:
        await plan(source, target, to_table(users()))
    said = str(refused.value)
    assert "the source hr holds 1 of the 1 user objects this run took for absent" in said
    assert f"{second.skipped!r}" in said and "nothing is written" in said
    assert logins(tmp_path / "db.sqlite") == USERS  # nothing deleted

    # Read again with nothing changing meanwhile: the user skipped is there, and the one
    # deleted, truly gone (looked up, not found), is deleted.
    again = await plan(source, target, to_table(users()))
    assert shown(again) == ["create user u8", f"delete user {second.gone}"]


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every value the SCIM provider looks users up by (`eq`; by the texts they hold,
    `co`: those texts, each key's joined by "…")."""
    values: list[str] = []
    looked_up, held = ScimProvider.read_keys, ScimProvider.read_holding

    def read_keys(self: ScimProvider, field: str, keys: Any, batch_size: int) -> Any:
        values.extend(keys)
        return looked_up(self, field, keys, batch_size)

    def read_holding(self: ScimProvider, field: str, parts: Any, batch_size: int) -> Any:
        values.extend("…".join(texts) for texts in parts)
        return held(self, field, parts, batch_size)

    monkeypatch.setattr(ScimProvider, "read_keys", read_keys)
    monkeypatch.setattr(ScimProvider, "read_holding", read_holding)
    return values


async def test_users_truly_gone_are_deleted_once_looked_up(
    scim_url: str, tmp_path: Path, asked: list[str]
) -> None:
    # w1 is a user of the service, but outside the job's query: looked up within it, it
    # is not found, and its object goes as u9's does.
    for name in [*USERS, "w1"]:
        add(scim_url, "/Users", name)
    people(tmp_path / "db.sqlite", [*USERS, "u9", "w1"])
    source = scim(scim_url, tmp_path)
    target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))
    scoped = to_table(users(), query='userName sw "u"')
    run = await plan(source, target, scoped)
    assert shown(run) == ["delete user u9", "delete user w1"]
    assert sorted(asked) == ["u9", "w1"]
    # Nothing absent: nothing looked up.
    people(tmp_path / "other.sqlite", [*USERS, "w1"])
    asked.clear()
    same = SqliteConnection(id="db", path=str(tmp_path / "other.sqlite"))
    assert shown(await plan(source, same, to_table(users()))) == []
    assert asked == []


async def test_a_run_scoped_to_keys_looks_its_users_up(
    scim_url: str, tmp_path: Path, asked: list[str]
) -> None:
    for name in USERS:
        add(scim_url, "/Users", name)
    people(tmp_path / "db.sqlite", ["u1", "u2"])
    source = scim(scim_url, tmp_path)
    target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))
    run = await plan_between(source, target, to_table(users()), ["u5", "u2"])
    assert shown(run) == ["create user u5"]
    assert sorted(asked) == ["u2", "u5"]


async def test_users_and_groups_into_scim_the_skipped_user_is_not_disabled(
    scim_server: Any, tmp_path: Path, churn: list[Churn]
) -> None:
    # SCIM to SCIM: users disabled when absent, groups deleted. The users' read skips
    # u4; the groups' read misses nothing, and "old" is truly gone.
    there, here = scim_server.new_tenant(), scim_server.new_tenant()
    for name in USERS:
        add(there, "/Users", name)
        add(here, "/Users", name)
    add(there, "/Groups", "staff")
    for name in ("staff", "old"):
        add(here, "/Groups", name)
    (tmp_path / "token").write_text(TOKEN + "\n")
    token = SecretRef(file=str(tmp_path / "token"))
    source = ScimConnection(id="hr", url=there, token=token, page_size=PAGE)
    target = ScimConnection(id="dir", url=here, token=token)
    groups = ObjectMapping(
        type="group",
        keys=["displayName"],
        source=ObjectScope(object_classes=["Group"]),
        destination=ObjectScope(object_classes=["Group"]),
        fields=[FieldMap(to="displayName")],
        on_destination_only="delete",
    )
    the_job = Job(
        id="mirror",
        source=Endpoint(connection="hr"),
        destination=Endpoint(connection="dir"),
        objects=[users("disable", to="userName"), groups],
    )
    skip = Churn(there)
    churn.append(skip)
    with pytest.raises(Transient) as refused:
        await plan(source, target, the_job)
    said = str(refused.value)
    assert "holds 1 of the 2 objects this run took for absent after all" in said
    assert f"the user {skip.skipped!r}" in said
    # Read whole this time: the user skipped is left alone; the one deleted is disabled
    # and the group that is gone deleted, both looked up and not found.
    run = await plan(source, target, the_job)
    assert shown(run) == ["create user u8", "delete group old", f"disable user {skip.gone}"]


async def test_a_run_whose_read_skipped_a_user_is_planned_again_and_keeps_it(
    scim_url: str,
    tmp_path: Path,
    session: Session,
    services: RunServices,
    churn: list[Churn],
    settings: Settings,
) -> None:
    # Through the services: the first planning fails (said on the run), the second reads
    # every user; the run creates the new one, deletes the one deleted, keeps the other.
    for name in USERS:
        add(scim_url, "/Users", name)
    folder = tmp_path / "job"
    (folder / "data").mkdir(parents=True)
    people(folder / "data" / "people.db", USERS)
    (folder / "scim-token").write_text(TOKEN + "\n")
    connections = f"""\
[db]
provider = "sqlite"
path = "data/people.db"

[hr]
provider = "scim"
url = "{scim_url}"
token = {{ file = "{folder / "scim-token"}" }}
page_size = {PAGE}
"""
    job = """\
id = "people"
source = { connection = "hr" }
destination = { connection = "db", table = "people" }

[[objects]]
keys = ["login"]
on_destination_only = "delete"
fields = [{ to = "login", from = "userName" }, { to = "name", from = "name.givenName" }]
"""
    job_id = await define(session, folder, connections, job)
    async with services():
        # A preview plans as the run does: it fails the same way.
        looked = Churn(scim_url)
        churn.append(looked)
        args = build_parser().parse_args(["job", "preview", job_id, "--json"])
        args.settings = settings
        with pytest.raises(Transient) as refused:
            await args.handler(args)
        assert f"took for absent after all ({looked.skipped!r} among them)" in str(refused.value)
        add(scim_url, "/Users", looked.gone)
        remove(scim_url, "/Users", "u8")
        skip = Churn(scim_url)
        churn.append(skip)
        run_id, end = await follow_run(session, job_id, None)
        assert isinstance(end, RunFinished)
        assert (end.stats.created, end.stats.deleted) == (1, 1)
    events = await run_events(session.nc, job_id, run_id)
    failures = [e for e in events if isinstance(e, RunDeliveryFailed)]
    assert failures and repr(skip.skipped) in failures[0].error and failures[0].stage == "plan"
    kept = sorted({*USERS, "u8"} - {skip.gone})
    assert skip.skipped in kept and logins(folder / "data" / "people.db") == kept
