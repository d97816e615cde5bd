"""An absence confirmed in a SCIM source finds a user its read skipped whatever the
spelling of the key the destination holds for it, or the service, as the run compares
keys: in another case where it compares them without case ("straße" is "STRASSE"), with
spaces around it, as a number column holds it. Otherwise the user's object, looked up
and not found, was deleted. A key with quotes is looked up as itself; a lookup that
fails fails the planning.

Against a real SCIM server (scim2-server), a user deleted and another added between the
first page and the second (test_scim_absence.py's `Churn`); the users are told apart by
their given name, whatever their keys are spelled."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.errors import PERMANENT, IdsyncError, Transient
from schemas.connections import SqliteConnection
from schemas.jobs import FieldMap, ObjectMapping
from services.providers.scim import connection as scim_connection
from tests.scim_server import ThrottlingProxy, client, resources

from . import test_scim_absence as absence
from .test_scim_absence import USERS, Churn, plan, scim, shown, to_table
from .test_scim_absence import asked as asked  # the fixtures
from .test_scim_absence import churn as churn
from .test_scoped_reads import table

Spelling = Callable[[str], str]


@pytest.fixture
def named(monkeypatch: pytest.MonkeyPatch) -> Callable[[Spelling, Spelling], None]:
    """Users made with their userName and externalId as the spellings say (of the name
    "u1"…), and found (to be deleted by a churn) by their given name."""

    def spelled(user_name: Spelling, external_id: Spelling) -> None:
        def add(url: str, endpoint: str, name: str) -> None:
            body: dict[str, Any] = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": user_name(name),
                "externalId": external_id(name),
                "name": {"givenName": name},
            }
            with client(url) as http:
                assert http.post(endpoint, json=body).status_code == 201

        def remove(url: str, endpoint: str, name: str) -> None:
            [found] = [r for r in resources(url) if r["name"]["givenName"] == name]
            with client(url) as http:
                assert http.delete(f"{endpoint}/{found['id']}").status_code == 204

        def listed(url: str) -> list[str]:
            return [user["name"]["givenName"] for user in resources(url)]

        monkeypatch.setattr(absence, "add", add)
        monkeypatch.setattr(absence, "remove", remove)
        monkeypatch.setattr(absence, "listed", listed)

    return spelled


def logins(key: str, **more: Any) -> ObjectMapping:
    fields = [FieldMap(to="login", from_=key), FieldMap(to="name", from_="name.givenName")]
    return ObjectMapping(keys=["login"], fields=fields, on_destination_only="delete", **more)


async def skipped_and_refused(
    scim_url: str, tmp_path: Path, churn: list[Churn], held: Spelling, the_users: ObjectMapping
) -> None:
    """The destination holds each user's key as `held` spells it; a run whose read skips
    a user fails, that user's object kept."""
    for name in USERS:
        absence.add(scim_url, "/Users", name)
    rows = [(held(name), name) for name in USERS]
    table(tmp_path / "db.sqlite", "people", ["login", "name"], rows)
    source = scim(scim_url, tmp_path)
    target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))
    # Read whole with nothing changing: every object is its user's, none deleted.
    assert not [c for c in shown(await plan(source, target, to_table(the_users))) if "delete" in c]
    skip = Churn(scim_url)
    churn.append(skip)
    with pytest.raises(Transient) as refused:
        await plan(source, target, to_table(the_users))
    assert f"({held(skip.skipped)!r} among them)" in str(refused.value)


@pytest.mark.parametrize("case_insensitive", [True, False], ids=["job", "destination"])
async def test_a_user_skipped_is_found_in_another_case_of_an_exact_attribute(
    scim_url: str,
    tmp_path: Path,
    churn: list[Churn],
    named: Callable[[Spelling, Spelling], None],
    case_insensitive: bool,
) -> None:
    # externalId compares with case in SCIM: `externalId eq "U4"` finds no "u4". Where
    # the job compares keys without case ("U4" is u4's object), or the destination may
    # (SQLite's is not known: "U4" left alone), the source is read whole again instead.
    named(lambda name: name, lambda name: name)
    the_users = logins("externalId", case_insensitive=case_insensitive)
    await skipped_and_refused(scim_url, tmp_path, churn, str.upper, the_users)


@pytest.mark.parametrize(
    "held",
    [lambda name: f"{name}  ", lambda name: f" {name}", lambda name: f"e\u0301{name}"],
    ids=["spaces after", "a space before", "another Unicode form"],
)
async def test_a_user_skipped_is_found_whatever_the_spelling_the_destination_holds(
    scim_url: str,
    tmp_path: Path,
    churn: list[Churn],
    named: Callable[[Spelling, Spelling], None],
    held: Spelling,
) -> None:
    # The run compares keys without the spaces around them, in NFC: "u4  " (a padded
    # column) is u4's object, and so is "éu4" written in NFD. Looked up as the
    # destination holds it, `userName eq "u4  "` found no u4.
    if "\u0301" in held("u"):
        named(lambda name: f"\u00e9{name}", lambda name: name)
    else:
        named(lambda name: name, lambda name: name)
    await skipped_and_refused(scim_url, tmp_path, churn, held, logins("userName"))


async def test_a_user_skipped_is_found_where_the_destination_holds_the_key_otherwise(
    scim_url: str, tmp_path: Path, churn: list[Churn], named: Callable[[Spelling, Spelling], None]
) -> None:
    # The users are "001"…"007", the table's login column holds numbers: 1…7, which a
    # whole read matches ("004" is 4 there). A lookup of `userName eq "4"` finds no
    # "004": the source is read whole again instead.
    named(lambda name: f"00{name[1:]}", lambda name: name)
    for name in USERS:
        absence.add(scim_url, "/Users", name)
    rows = [(int(name[1:]), name) for name in USERS]
    table(tmp_path / "db.sqlite", "people", ["login INTEGER", "name TEXT"], rows)
    source = scim(scim_url, tmp_path)
    target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))
    assert shown(await plan(source, target, to_table(logins("userName")))) == []
    skip = Churn(scim_url)
    churn.append(skip)
    with pytest.raises(Transient) as refused:
        await plan(source, target, to_table(logins("userName")))
    assert f"({skip.skipped[1:]!r} among them)" in str(refused.value)


@pytest.mark.parametrize("answer", [500, 429], ids=["server error", "rate limited"])
async def test_a_lookup_that_fails_fails_the_run_as_a_read_does(
    scim_url: str, tmp_path: Path, answer: int
) -> None:
    # u9 is truly gone: its object would be deleted once looked up. The lookup is
    # answered 500 (or 429 for longer than max_wait): the planning fails as a read that
    # failed does (tried again later, not a permanent failure), nothing planned.
    for name in USERS:
        absence.add(scim_url, "/Users", name)
    absence.people(tmp_path / "db.sqlite", [*USERS, "u9"])
    lookups: list[str] = []

    def looked_up() -> bool:
        return bool(lookups) and lookups[-1] == "waiting"

    def throttle() -> float | None:
        return 30.0 if answer == 429 and looked_up() else None

    def after(method: str, path: str) -> int | None:
        if method == "GET" and "filter=" in path:
            lookups.append(path)
            return 500 if answer == 500 else None
        return None

    port = int(scim_url.split(":")[2].split("/")[0])
    proxy = ThrottlingProxy(port, throttle, after=after)
    asked = scim_connection.Session.get_json

    async def get_json(self: Any, path: str, params: Any = None) -> bytes:
        if params and "filter" in params:
            lookups.append("waiting")  # the proxy refuses it (429)
        return await asked(self, path, params)

    try:
        source = msgspec.structs.replace(scim(proxy.url(scim_url), tmp_path), max_wait=1.0)
        target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))
        with pytest.MonkeyPatch.context() as patched:
            patched.setattr(scim_connection.Session, "get_json", get_json)
            with pytest.raises(IdsyncError) as failed:
                await plan(source, target, absence.to_table(absence.users()))
        assert not isinstance(failed.value, PERMANENT), failed.value
        assert str(answer) in str(failed.value) or "wait" in str(failed.value)
        assert lookups  # the lookup was asked, and failed
    finally:
        proxy.close()
    assert absence.logins(tmp_path / "db.sqlite") == sorted([*USERS, "u9"])


async def test_a_key_with_quotes_and_backslashes_is_looked_up_as_itself(
    scim_url: str,
    tmp_path: Path,
    churn: list[Churn],
    named: Callable[[Spelling, Spelling], None],
    asked: list[str],
) -> None:
    # `userName eq "o\"u4\\"`: the value escaped as a JSON string, neither breaking the
    # filter nor widening it (the truly gone user is looked up, and deleted).
    spelled: Spelling = lambda name: f'o"{name}\\'  # noqa: E731
    named(spelled, lambda name: name)
    await skipped_and_refused(scim_url, tmp_path, churn, spelled, logins("userName"))
    assert asked and all(value.startswith('o"') for value in asked)
    source = scim(scim_url, tmp_path)
    target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))
    again = await plan(source, target, to_table(logins("userName")))
    gone = churn[0].gone
    assert [c for c in shown(again) if c.startswith("delete")] == [f"delete user {spelled(gone)}"]


async def test_a_user_the_service_spells_with_spaces_is_found_by_a_lookup(
    scim_url: str,
    tmp_path: Path,
    churn: list[Churn],
    named: Callable[[Spelling, Spelling], None],
    asked: list[str],
) -> None:
    # The service holds "u4 ", the table "u4" (the run matches them, and writes the new
    # spelling on update). Looked up as `userName eq "u4"`, the skipped u4 was not found,
    # and its object deleted; `userName co "u4"` finds it.
    named(lambda name: f"{name} ", lambda name: name)
    await skipped_and_refused(scim_url, tmp_path, churn, lambda name: name, logins("userName"))
    assert churn[0].skipped in asked  # looked up, not read whole


async def test_a_user_whose_key_folds_to_another_length_is_found_by_a_lookup(
    scim_url: str,
    tmp_path: Path,
    churn: list[Churn],
    named: Callable[[Spelling, Spelling], None],
    asked: list[str],
) -> None:
    # A job comparing keys without case: "STRASSEU4" is straße4's object (both fold to
    # "strasseu4"). Looked up as `userName eq "STRASSEU4"`, the skipped "straßeu4" was
    # not found (the service lowers case, "ß" stays), and its object deleted. Looked up
    # by the texts every spelling of the key holds (`co "ra" and co "eu4"`), it is found.
    named(lambda name: f"straße{name}", lambda name: name)
    the_users = logins("userName", case_insensitive=True)
    await skipped_and_refused(
        scim_url, tmp_path, churn, lambda name: f"STRASSE{name.upper()}", the_users
    )
    assert f"ra…e{churn[0].skipped}" in asked  # looked up, not read whole


async def test_a_lookup_the_service_refuses_has_the_source_read_whole_instead(
    scim_url: str, tmp_path: Path, churn: list[Churn]
) -> None:
    # A service that cannot search by the key's attribute answers the lookup 400 (a
    # custom attribute it reads but does not filter by): the absence is confirmed by a
    # whole read instead — u9, truly gone, is deleted as a run that looks nothing up
    # deletes it; a user the read skipped is found. Refused, every full run failed.
    for name in USERS:
        absence.add(scim_url, "/Users", name)
    absence.people(tmp_path / "db.sqlite", [*USERS, "u9"])
    refused: list[str] = []

    def after(method: str, path: str) -> int | None:
        if method == "GET" and "filter=" in path:
            refused.append(path)
            return 400
        return None

    port = int(scim_url.split(":")[2].split("/")[0])
    proxy = ThrottlingProxy(port, lambda: None, after=after)
    try:
        through = proxy.url(scim_url)
        source = scim(through, tmp_path)
        target = SqliteConnection(id="db", path=str(tmp_path / "db.sqlite"))
        the_job = absence.to_table(absence.users())
        run = await plan(source, target, the_job)
        assert shown(run) == ["delete user u9"] and refused
        skip = Churn(through)
        churn.append(skip)
        with pytest.raises(Transient) as held:
            await plan(source, target, the_job)
        assert f"({skip.skipped!r} among them)" in str(held.value)
    finally:
        proxy.close()
