"""Jobs with a SCIM side through every service over a real nats-server and a real SCIM
server (scim2-server): CSV → SCIM users and groups with members, SCIM → SQLite, a burst
of 429s, and a service without PATCH."""

from __future__ import annotations

import base64
import csv
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from core.errors import BadInput
from schemas.connections import ScimConnection, ScimOAuth, SecretRef
from schemas.events import RunDeliveryFailed, RunFinished
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.people import people, write_csv
from services.common.reading import run_events
from services.providers import check_reachable, open_provider
from services.providers.base import Layout
from services.providers.scim import connection as scim_connection
from tests.scim_server import TOKEN, ScimServer, ThrottlingProxy, client, resources

from .conftest import RunServices
from .ldap_helpers import define

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def connections(folder: Path, url: str, **settings: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scim-token").write_text(TOKEN + "\n")
    extra = "".join(f"{name} = {value}\n" for name, value in settings.items())
    return f"""\
[hr]
provider = "csv"
directory = "data"
delimiter = ";"

[db]
provider = "sqlite"
path = "data/people.db"

[scim]
provider = "scim"
url = "{url}"
token = {{ file = "{folder / "scim-token"}" }}
{extra}"""


USERS = f"""\
[[objects]]
type = "user"
keys = ["userName"]
on_destination_only = "disable"
fields = [
  {{ to = "userName", from = "employee_id" }},
  {{ to = "name.givenName", from = "first_name" }},
  {{ to = "name.familyName", from = "last_name" }},
  {{ to = "displayName", transform = {{ join = ["first_name", "last_name"], separator = " " }} }},
  {{ to = 'emails[type eq "work"].value', from = "email" }},
  {{ to = "title" }},
  {{ to = "{ENTERPRISE}:department", from = "department" }},
]
"""

GROUPS = """
[[objects]]
type = "group"
keys = ["displayName"]
on_destination_only = "delete"
source = { file = "groups.csv" }
destination = { object_classes = ["Group"] }
fields = [
  { to = "displayName", from = "group" },
  { to = "members", delimiter = "|", resolve = { type = "user", by = "userName" } },
]
"""


def job_to_scim(groups: bool = True) -> str:
    return (
        'id = "hr-to-scim"\n'
        'source = { connection = "hr", file = "people.csv" }\n'
        'destination = { connection = "scim" }\n'
        "safety = { max_percent = 100 }\n\n" + USERS + (GROUPS if groups else "")
    )


def write_groups(folder: Path, groups: dict[str, list[str]]) -> None:
    with (folder / "data" / "groups.csv").open("w", newline="") as out:
        rows = csv.writer(out, delimiter=";")
        rows.writerow(["group", "members"])
        rows.writerows([name, "|".join(members)] for name, members in groups.items())


async def run(session: Session, job_id: str) -> RunFinished:
    _, end = await follow_run(session, job_id, None)
    assert isinstance(end, RunFinished), end
    return end


def by_user_name(url: str) -> dict[str, dict[str, Any]]:
    return {u["userName"]: u for u in resources(url)}


def members_of(url: str) -> dict[str, set[str]]:
    """Group → the userNames of its members, as the service holds them (by id)."""
    names = {u["id"]: u["userName"] for u in resources(url)}
    return {
        g["displayName"]: {names.get(m["value"], m["value"]) for m in g.get("members", [])}
        for g in resources(url, "/Groups")
    }


async def test_csv_to_scim_users_and_groups_then_changes_only(
    scim_url: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    rows = people(120)
    ids = [r["employee_id"] for r in rows]
    groups = {"staff": ids[:100], "vpn": ids[50:60], "ghosts": [ids[0], "E999999"]}
    job = await define(session, folder, connections(folder, scim_url), job_to_scim())
    write_csv(folder / "data" / "people.csv", rows)
    write_groups(folder, groups)
    async with services():
        first = await run(session, job)
        # Users and the groups naming them are created in one run; the unknown member is
        # that group's error, and the group is written without it.
        assert (first.stats.created, first.stats.failed) == (123 - 1, 1)
        users = by_user_name(scim_url)
        assert len(users) == 120
        ada = users[rows[0]["employee_id"]]
        assert ada["name"] == {
            "givenName": rows[0]["first_name"],
            "familyName": rows[0]["last_name"],
        }
        assert ada["emails"] == [{"type": "work", "value": rows[0]["email"]}]
        assert ada[ENTERPRISE] == {"department": rows[0]["department"]}
        assert members_of(scim_url) == {
            "staff": set(ids[:100]),
            "vpn": set(ids[50:60]),
            "ghosts": {ids[0]},
        }

        again = await run(session, job)
        assert (again.stats.written, again.stats.failed) == (0, 1)

        rows[1]["department"] = "Legal"
        rows[2]["email"] = "new.address@example.org"
        gone = rows.pop()  # left: disabled, never deleted
        groups["vpn"] = [*ids[51:60], ids[99]]
        write_csv(folder / "data" / "people.csv", rows)
        write_groups(folder, groups)
        changed = await run(session, job)
        assert (changed.stats.updated, changed.stats.disabled) == (3, 1)
        users = by_user_name(scim_url)
        assert users[rows[1]["employee_id"]][ENTERPRISE]["department"] == "Legal"
        assert users[rows[2]["employee_id"]]["emails"] == [
            {"type": "work", "value": "new.address@example.org"}
        ]
        assert users[gone["employee_id"]]["active"] is False
        assert members_of(scim_url)["vpn"] == {*ids[51:60], ids[99]}


def seed(url: str, count: int) -> None:
    with client(url) as http:
        for n in range(count):
            user = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                "userName": f"user{n:03d}",
                "name": {"givenName": f"Given{n}", "familyName": "Family"},
                "emails": [
                    {"type": "home", "value": f"home{n}@example.net"},
                    {"type": "work", "value": f"user{n}@example.org", "primary": True},
                ],
                "active": n % 7 != 0,
                ENTERPRISE: {"employeeNumber": str(1000 + n), "manager": {"value": "boss"}},
            }
            assert http.post("/Users", json=user).status_code == 201


async def test_scim_to_sqlite_reads_every_page_with_extension_attributes(
    scim_url: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    seed(scim_url, 450)  # 3 pages of 200
    folder = tmp_path / "job"
    job = f"""\
id = "scim-to-db"
source = {{ connection = "scim", query = 'userName sw "user"' }}
destination = {{ connection = "db", table = "people" }}

[[objects]]
keys = ["login"]
fields = [
  {{ to = "login", from = "userName" }},
  {{ to = "given_name", from = "name.givenName" }},
  {{ to = "work_mail", from = 'emails[type eq "work"].value' }},
  {{ to = "mails", from = "emails.value", delimiter = "|" }},
  {{ to = "active" }},
  {{ to = "employee_number", from = "{ENTERPRISE}:employeeNumber" }},
  {{ to = "manager", from = "{ENTERPRISE}:manager.value" }},
]
"""
    job_id = await define(session, folder, connections(folder, scim_url), job)
    async with services():
        first = await run(session, job_id)
        assert first.stats.created == 450
        again = await run(session, job_id)
        assert again.stats.written == 0
    with sqlite3.connect(folder / "data" / "people.db") as db:
        rows = db.execute(
            "SELECT login, given_name, work_mail, mails, active, employee_number, manager "
            "FROM people WHERE login IN ('user007', 'user008') ORDER BY login"
        ).fetchall()
    db.close()
    assert rows == [
        (
            "user007",
            "Given7",
            "user7@example.org",
            "home7@example.net|user7@example.org",
            "false",
            "1007",
            "boss",
        ),
        (
            "user008",
            "Given8",
            "user8@example.org",
            "home8@example.net|user8@example.org",
            "true",
            "1008",
            "boss",
        ),
    ]


@pytest.fixture
def throttled(scim_url: str) -> Iterator[tuple[ThrottlingProxy, str]]:
    """The test's service behind a proxy that answers every third request 429."""
    seen = [0]

    def every_third() -> float | None:
        seen[0] += 1
        return 0.2 if seen[0] % 3 == 0 else None

    proxy = ThrottlingProxy(int(scim_url.split(":")[2].split("/")[0]), every_third)
    yield proxy, proxy.url(scim_url)
    proxy.close()


async def test_a_burst_of_429s_is_waited_out(
    scim_url: str,
    throttled: tuple[ThrottlingProxy, str],
    tmp_path: Path,
    session: Session,
    services: RunServices,
) -> None:
    proxy, url = throttled
    folder = tmp_path / "job"
    job = await define(
        session, folder, connections(folder, url, bulk="false"), job_to_scim(groups=False)
    )
    rows = people(60)
    write_csv(folder / "data" / "people.csv", rows)
    rows[0]["title"] = "Changed"
    async with services():
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (60, 0)
        write_csv(folder / "data" / "people.csv", rows)
        second = await run(session, job)
        assert (second.stats.updated, second.stats.failed) == (1, 0)
    assert proxy.refused >= 20
    assert len(by_user_name(scim_url)) == 60
    assert by_user_name(scim_url)[rows[0]["employee_id"]]["title"] == "Changed"


async def test_a_wait_over_max_wait_retries_the_batch_later(
    scim_url: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    """A service asking for longer than `max_wait` fails the attempt (said on the run);
    the runner applies the batch again later and the run completes."""
    refused = [0]

    def first_two_writes() -> float | None:
        refused[0] += 1
        return 30.0 if 4 <= refused[0] <= 5 else None

    proxy = ThrottlingProxy(int(scim_url.split(":")[2].split("/")[0]), first_two_writes)
    try:
        folder = tmp_path / "job"
        url = proxy.url(scim_url)
        job = await define(
            session, folder, connections(folder, url, max_wait="1"), job_to_scim(groups=False)
        )
        write_csv(folder / "data" / "people.csv", people(10))
        async with services():
            run_id, end = await follow_run(session, job, None)
            assert isinstance(end, RunFinished) and end.stats.created == 10
        events = await run_events(session.nc, job, run_id)
        failures = [e for e in events if isinstance(e, RunDeliveryFailed)]
        assert failures and "max_wait" in failures[0].error
    finally:
        proxy.close()


async def test_a_service_without_patch_is_written_with_full_puts(
    scim_put_server: ScimServer, tmp_path: Path, session: Session, services: RunServices
) -> None:
    url = scim_put_server.new_tenant()
    methods: list[str] = []
    proxy = ThrottlingProxy(scim_put_server.port, lambda: None, methods)
    try:
        folder = tmp_path / "job"
        job = await define(
            session, folder, connections(folder, proxy.url(url)), job_to_scim(groups=True)
        )
        rows = people(20)
        ids = [r["employee_id"] for r in rows]
        write_csv(folder / "data" / "people.csv", rows)
        write_groups(folder, {"staff": ids[:10]})
        async with services():
            assert (await run(session, job)).stats.created == 21
            rows[3]["title"] = "Chief"
            write_csv(folder / "data" / "people.csv", rows)
            write_groups(folder, {"staff": ids[1:11]})
            changed = await run(session, job)
            assert (changed.stats.updated, changed.stats.failed) == (2, 0)
    finally:
        proxy.close()
    assert "PATCH" not in methods and "PUT" in methods
    assert by_user_name(url)[ids[3]]["title"] == "Chief"
    assert by_user_name(url)[ids[3]]["name"]["givenName"] == rows[3]["first_name"]  # kept
    assert members_of(url)["staff"] == set(ids[1:11])


async def test_connection_test_says_what_the_service_supports(
    scim_url: str, scim_put_server: ScimServer, tmp_path: Path
) -> None:
    seed(scim_url, 3)
    (tmp_path / "token").write_text(TOKEN + "\n")
    token = SecretRef(file=str(tmp_path / "token"))
    said = await check_reachable(ScimConnection(id="s", url=scim_url, token=token))
    assert said == (
        f"{scim_url}: 3 User (+enterprise), 0 Group; supports filter (at most 1000 a page), "
        "PATCH, bulk (1000 operations), ETags, sort"
    )
    plain = scim_put_server.new_tenant()
    said = await check_reachable(ScimConnection(id="s", url=plain, token=token))
    assert "no PATCH (full PUT)" in said and "bulk" not in said
    wrong = ScimConnection(id="s", url=scim_url, token=SecretRef(env="IDSYNC_TEST_NO_SUCH"))
    with pytest.raises(BadInput, match="IDSYNC_TEST_NO_SUCH"):
        await check_reachable(wrong)
    (tmp_path / "bad").write_text("not-the-token\n")
    refused = ScimConnection(id="s", url=scim_url, token=SecretRef(file=str(tmp_path / "bad")))
    with pytest.raises(BadInput, match="refused the credentials of connection 's'"):
        await check_reachable(refused)


class TokenServer:
    """An OAuth 2.0 token endpoint for client credentials (RFC 6749 §4.4): the client
    `idsync` with secret `s3cret` gets the SCIM server's bearer token, for 31 seconds."""

    def __init__(self) -> None:
        self.asked = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                outer.asked += 1
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                basic = base64.b64encode(b"idsync:s3cret").decode()
                good = self.headers.get("Authorization") == f"Basic {basic}"
                good = good and form.get("grant_type") == ["client_credentials"]
                body = (
                    {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 31}
                    if good
                    else {"error": "invalid_client"}
                )
                data = json.dumps(body).encode()
                self.send_response(200 if good else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class StoppedClock:
    """The `time` module as the SCIM connection sees it, its monotonic clock moved by
    the test alone: a token's second of validity lasts however slow the machine is."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


async def test_oauth_client_credentials_give_the_bearer_token_until_it_expires(
    scim_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(scim_url, 2)
    tokens = TokenServer()
    monkeypatch.setenv("IDSYNC_TEST_SCIM_SECRET", "s3cret")
    clock = StoppedClock()
    monkeypatch.setattr(scim_connection, "time", clock)
    try:
        secret = SecretRef(env="IDSYNC_TEST_SCIM_SECRET")
        oauth = ScimOAuth(token_url=tokens.url, client_id="idsync", client_secret=secret)
        said = await check_reachable(ScimConnection(id="s", url=scim_url, oauth=oauth))
        assert said.startswith(f"{scim_url}: 2 User") and tokens.asked == 1
        clock.now += 0.9
        await check_reachable(ScimConnection(id="s", url=scim_url, oauth=oauth))
        assert tokens.asked == 1  # kept while it is valid (31 s, less a 30 s margin)
        clock.now += 0.2
        await check_reachable(ScimConnection(id="s", url=scim_url, oauth=oauth))
        assert tokens.asked == 2
        monkeypatch.setenv("IDSYNC_TEST_SCIM_SECRET", "wrong")
        other = ScimOAuth(token_url=tokens.url, client_id="idsync", client_secret=secret, scope="x")
        with pytest.raises(BadInput, match="refused client 'idsync'"):
            await check_reachable(ScimConnection(id="s", url=scim_url, oauth=other))
    finally:
        tokens.close()


async def test_a_refused_record_is_its_own_error_in_scims_words(
    scim_url: str, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    connection = ScimConnection(id="s", url=scim_url, token=SecretRef(file=str(tmp_path / "token")))
    layout = Layout(keys=("externalId",), fields=("externalId", "userName", "active"))
    provider = open_provider(connection, Endpoint(connection="s"), layout)
    await provider.open(write=True)
    try:

        def create(key: str, name: str, active: str = "true") -> Change:
            values: Record = {"externalId": key, "userName": name, "active": active}
            return Change(action="create", key=key, match={"externalId": key}, set=values)

        outcomes = await provider.apply(
            [create("E1", "ada"), create("E2", "ada"), create("E3", "bo", "perhaps")]
        )
    finally:
        await provider.close()
    assert outcomes[0].error is None
    assert (outcomes[1].error or "").startswith("409 uniqueness: ")
    assert outcomes[2].error == "active: expected true or false, got 'perhaps'"
    assert sorted(by_user_name(scim_url)) == ["ada"]


BY_ID = '{ type = "user", by = "externalId" }'
REFERRING = f"""\
id = "hr-to-scim"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "scim" }}

[[objects]]
type = "user"
keys = ["externalId"]
fields = [
  {{ to = "externalId", from = "employee_id" }},
  {{ to = "userName", from = "login" }},
  {{ to = "{ENTERPRISE}:manager.value", from = "boss", resolve = {BY_ID} }},
]
{GROUPS.replace('by = "userName"', 'by = "externalId"')}"""


@pytest.mark.parametrize("bulk", ["true", "false"])
async def test_a_reference_to_a_user_the_service_refused_is_never_written_as_its_search(
    scim_url: str, tmp_path: Path, session: Session, services: RunServices, bulk: str
) -> None:
    folder = tmp_path / "job"
    job = await define(session, folder, connections(folder, scim_url, bulk=bulk), REFERRING)
    with client(scim_url) as http:  # "ada" is taken before the run, by someone else
        taken = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada"}
        assert http.post("/Users", json=taken).status_code == 201
    rows = [
        {"employee_id": "E0", "login": "cy", "boss": ""},
        {"employee_id": "E1", "login": "ada", "boss": ""},  # refused: userName taken
        {"employee_id": "E2", "login": "bo", "boss": "E1"},
    ]
    with (folder / "data" / "people.csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    write_groups(folder, {"team": ["E0", "E1", "E2"]})
    async with services():
        first = await run(session, job)
    # E1 was never created, so nothing stands for it: bo has no manager, and the team's
    # members are the users there are; both say what they miss.
    users = by_user_name(scim_url)
    assert sorted(users) == ["ada", "bo", "cy"]
    assert "manager" not in users["bo"].get(ENTERPRISE, {}), users["bo"]
    assert members_of(scim_url) == {"team": {"cy", "bo"}}
    assert first.stats.failed == 3, first.stats  # E1 itself, bo's manager, the team's member


ROLES = """\
id = "hr-to-scim"
source = { connection = "hr", file = "people.csv" }
destination = { connection = "scim" }

[[objects]]
type = "user"
keys = ["userName"]
fields = [
  { to = "userName", from = "login" },
  { to = "roles.value", from = "roles", delimiter = "|" },
  { to = "emails.value", from = "mails", delimiter = "|" },
]
"""


async def test_multi_valued_attributes_in_another_order_are_the_same_values(
    scim_url: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    job = await define(session, folder, connections(folder, scim_url), ROLES)

    def write_people(roles: str, mails: str) -> None:
        (folder / "data" / "people.csv").write_text(f"login;roles;mails\nada;{roles};{mails}\n")

    write_people("staff|admin", "ada@example.org|a.l@example.org")
    async with services():
        first = await run(session, job)
        assert first.stats.created == 1, first.stats
        # A service keeps no order of a multi-valued attribute's values: the same roles
        # and addresses listed in another order by the source are nothing to write.
        write_people("admin|staff", "a.l@example.org|ada@example.org")
        again = await run(session, job)
        assert (again.stats.written, again.stats.unchanged) == (0, 1), again.stats
        write_people("admin|auditor", "a.l@example.org|ada@example.org")
        changed = await run(session, job)
        assert changed.stats.updated == 1, changed.stats
        roles = by_user_name(scim_url)["ada"]["roles"]
        assert sorted(r["value"] for r in roles) == ["admin", "auditor"]
        last = await run(session, job)
        assert last.stats.written == 0, last.stats


@pytest.mark.parametrize("bulk", ["true", "false"])
async def test_a_group_the_service_made_though_its_gateway_answered_504_is_made_once(
    scim_url: str, tmp_path: Path, session: Session, services: RunServices, bulk: str
) -> None:
    """A group's displayName need not be unique (RFC 7643: uniqueness "none"): a create
    applied again after an answer that never came would make a second group, and the
    job could change neither (two groups, one key)."""
    cut = ["/Bulk" if bulk == "true" else "/Groups"]

    def gateway(method: str, path: str) -> int | None:
        if method == "POST" and cut and path.split("?")[0].endswith(cut[0]):
            if cut[0] == "/Bulk" and not members_of(scim_url):
                return None  # the users' bulk request: answered
            cut.clear()
            return 504
        return None

    proxy = ThrottlingProxy(int(scim_url.split(":")[2].split("/")[0]), lambda: None, after=gateway)
    try:
        folder = tmp_path / "job"
        job = await define(
            session, folder, connections(folder, proxy.url(scim_url), bulk=bulk), job_to_scim()
        )
        rows = people(3)
        write_csv(folder / "data" / "people.csv", rows)
        write_groups(folder, {"staff": [r["employee_id"] for r in rows]})
        async with services():
            first = await run(session, job)
            assert (first.stats.created, first.stats.failed) == (4, 0), first.stats
            assert [g["displayName"] for g in resources(scim_url, "/Groups")] == ["staff"]
            assert members_of(scim_url)["staff"] == {r["employee_id"] for r in rows}
            again = await run(session, job)
            assert again.stats.written == 0, again.stats
    finally:
        proxy.close()


async def test_members_named_in_another_case_are_the_users_whose_user_name_the_service_holds_so(
    scim_url: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    """userName compares without case (RFC 7643), though the job's keys compare with
    case: a group's member named in lower case is the user, as the service has it."""
    folder = tmp_path / "job"
    rows = people(3)
    ids = [r["employee_id"] for r in rows]
    job = await define(session, folder, connections(folder, scim_url), job_to_scim())
    write_csv(folder / "data" / "people.csv", rows)
    write_groups(folder, {"cased": [i.lower() for i in ids]})
    async with services():
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (4, 0), first.stats
        assert members_of(scim_url)["cased"] == set(ids)
        again = await run(session, job)
        assert (again.stats.written, again.stats.failed) == (0, 0), again.stats
