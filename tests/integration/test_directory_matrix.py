"""Jobs on a real slapd in every shape — a whole run, a run scoped to keys, an incremental
run — by the actions a directory sees: create, update, move between OUs (the container a
record names), rename, and a leaver moved away then back. Each shape must leave the
directory as a whole run on the same data does, and its preview must plan what it runs.

Users and groups share their OUs; groups name their members by DN (`resolve`), so a
member moved or renamed must be named anew in its groups."""

from __future__ import annotations

import csv
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from core.engine.containers import canonical_dn
from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.settings import Settings
from tests.ldap_server import Slapd

from .conftest import RunServices
from .ldap_helpers import USER, add_ou, connection, create, define, entries, provider
from .previews import preview_json
from .test_ldap_jobs import connections_toml

JOB = "dir-matrix"
OLD = "2026-01-01T00:00:00Z"
NEW = "2026-06-01T00:00:00Z"
NEWER = "2026-07-01T00:00:00Z"
Row = dict[str, str]


def job_toml(base: str, rdn: str = "uid", leavers: str = "") -> str:
    member = f'resolve = {{ type = "user", by = "uid", placeholder = "cn=nobody,{base}" }}'
    return f"""id = "{JOB}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "dir", container = "{base}" }}
safety = {{ max_percent = 100 }}
changes = {{ field = "at" }}

[[objects]]
type = "user"
keys = ["uid"]
container_from = "ou"
on_destination_only = "move"
move_to = "ou=gone,{base}"
delete_after = "30d"
restore = true
{leavers}
destination = {{ object_classes = ["inetOrgPerson"], rdn_attribute = "{rdn}" }}
fields = [
  {{ to = "uid", from = "id" }},
  {{ to = "cn", from = "name" }},
  {{ to = "sn", from = "name" }},
]

[[objects]]
type = "group"
keys = ["cn"]
container_from = "ou"
on_destination_only = "delete"
source = {{ file = "groups.csv" }}
destination = {{ object_classes = ["groupOfNames"] }}
fields = [
  {{ to = "cn", from = "group" }},
  {{ to = "member", from = "members", delimiter = "|", {member} }},
]
"""


class Directory:
    """One job on a fresh OU of the test slapd: its files, runs, previews and entries."""

    def __init__(
        self, slapd: Slapd, base: str, folder: Path, session: Session, settings: Settings
    ) -> None:
        self.slapd, self.base, self.folder = slapd, base, folder
        self.session, self.settings = session, settings
        for ou in ("a", "b", "gone"):
            add_ou(slapd, f"ou={ou},{base}")

    def ou(self, name: str) -> str:
        return f"ou={name},{self.base}"

    async def define(self, rdn: str = "uid", leavers: str = "") -> None:
        await define(
            self.session,
            self.folder,
            connections_toml(self.folder, self.slapd),
            job_toml(self.base, rdn, leavers),
        )

    def write(self, people: list[Row], groups: list[Row]) -> None:
        data = self.folder / "data"
        for name, rows, header in (
            ("people.csv", people, ["id", "name", "ou", "at", "status"]),
            ("groups.csv", groups, ["group", "members", "ou", "at"]),
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
        keys: list[str] | None = None,
        changed: bool = False,
    ) -> RunFinished:
        """Preview, then run the same way: the same plan, the same hash."""
        options = [o for key in keys or [] for o in ("--key", key)]
        options += ["--changed-only"] if changed else []
        previewed = await self.preview(capsys, *options)
        _, end = await follow_run(self.session, JOB, keys, changed_only=changed)
        assert isinstance(end, RunFinished), end
        assert end.plan_hash == previewed["plan_hash"], "the preview planned another plan"
        return end

    def state(self) -> dict[str, Any]:
        """Canonical DN → the attributes a user checks (cn, member), of everything below."""
        found = entries(
            self.slapd, self.base, "(|(objectClass=inetOrgPerson)(objectClass=groupOfNames))"
        )
        out: dict[str, Any] = {}
        for dn, attrs in found.items():
            members = sorted(cdn(v.decode()) for v in attrs.get("member", []))
            out[cdn(dn)] = {
                "cn": sorted(v.decode() for v in attrs["cn"]),
                "member": members,
            }
        return out


def cdn(text: str) -> str:
    """A DN in the one spelling `canonical_dn` gives it."""
    found = canonical_dn(text)
    assert found is not None, text
    return found


def user(n: int, ou: str, name: str = "", at: str = OLD) -> Row:
    return {"id": f"p{n}", "name": name or f"Person {n}", "ou": ou, "at": at}


def group(name: str, ou: str, *members: int, at: str = OLD) -> Row:
    return {"group": name, "members": "|".join(f"p{m}" for m in members), "ou": ou, "at": at}


@pytest.fixture
def directory(
    slapd: Slapd, ldap_base: str, tmp_path: Path, session: Session, settings: Settings
) -> Directory:
    return Directory(slapd, ldap_base, tmp_path / "job", session, settings)


SHAPES = ["whole", "key", "incremental"]


async def run_shape(
    d: Directory, capsys: pytest.CaptureFixture[str], shape: str, keys: list[str]
) -> RunFinished:
    if shape == "key":
        return await d.run(capsys, keys=keys)
    if shape == "incremental":
        return await d.run(capsys, changed=True)
    return await d.run(capsys)


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_moved_member_is_named_anew_in_its_group(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    d = directory
    await d.define()
    a, b = d.ou("a"), d.ou("b")
    d.write([user(1, a), user(2, a)], [group("team", a, 1, 2)])
    async with services():
        first = await d.run(capsys)
        assert (first.stats.created, first.stats.failed) == (3, 0), first.stats
        assert d.state()[cdn(f"cn=team,{a}")]["member"] == sorted(
            [cdn(f"uid=p1,{a}"), cdn(f"uid=p2,{a}")]
        )
        d.write([user(1, a), user(2, b, at=NEW)], [group("team", a, 1, 2)])
        moved = await run_shape(d, capsys, shape, ["p2"])
        assert moved.stats.moved == 1, moved.stats
        state = d.state()
        assert cdn(f"uid=p2,{b}") in state
        assert state[cdn(f"cn=team,{a}")]["member"] == sorted(
            [cdn(f"uid=p1,{a}"), cdn(f"uid=p2,{b}")]
        ), "the group names its moved member where it is now"

        d.write([user(1, a), user(2, a, at=NEWER)], [group("team", a, 1, 2)])  # and back
        back = await run_shape(d, capsys, shape, ["p2"])
        assert (back.stats.moved, back.stats.failed) == (1, 0), back.stats
        assert d.state()[cdn(f"cn=team,{a}")]["member"] == sorted(
            [cdn(f"uid=p1,{a}"), cdn(f"uid=p2,{a}")]
        )
        again = await d.run(capsys)
        assert again.stats.written == 0, again.stats


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_new_member_is_added_to_its_group_in_every_shape(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    """A new user the source puts in an existing group: a run scoped to the user's key
    (the group out of its scope) adds it to the group as a whole run does."""
    d = directory
    await d.define()
    a = d.ou("a")
    d.write([user(1, a)], [group("team", a, 1)])
    async with services():
        first = await d.run(capsys)
        assert (first.stats.created, first.stats.failed) == (2, 0), first.stats
        d.write([user(1, a), user(3, a, at=NEW)], [group("team", a, 1, 3, at=NEW)])
        added = await run_shape(d, capsys, shape, ["p3"])
        assert (added.stats.created, added.stats.updated, added.stats.failed) == (1, 1, 0), (
            added.stats
        )
        assert d.state()[cdn(f"cn=team,{a}")]["member"] == sorted(
            [cdn(f"uid=p1,{a}"), cdn(f"uid=p3,{a}")]
        ), "the new user is in its group"
        again = await d.run(capsys)
        assert again.stats.written == 0, again.stats


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_new_member_is_added_to_a_group_whose_record_did_not_change(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    """The group's record is older than the watermark and names a user new since: an
    incremental run, which reads the user's record alone, adds it to the group as a whole
    run does, and a run scoped to its key."""
    d = directory
    await d.define()
    a = d.ou("a")
    others = group("others", a, 1, at=NEW)  # the groups' watermark: NEW
    d.write([user(1, a)], [group("team", a, 1), others])
    async with services():
        first = await d.run(capsys)
        assert (first.stats.created, first.stats.failed) == (3, 0), first.stats
        d.write([user(1, a), user(3, a, at=NEW)], [group("team", a, 1, 3), others])
        added = await run_shape(d, capsys, shape, ["p3"])
        assert (added.stats.created, added.stats.updated, added.stats.failed) == (1, 1, 0), (
            added.stats
        )
        assert d.state()[cdn(f"cn=team,{a}")]["member"] == sorted(
            [cdn(f"uid=p1,{a}"), cdn(f"uid=p3,{a}")]
        ), "the new user is in its group"
        again = await d.run(capsys)
        assert again.stats.written == 0, again.stats


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_renamed_member_is_named_anew_in_its_group(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    """Users named by their cn: a new name renames the entry; with a move, both."""
    d = directory
    await d.define(rdn="cn")
    a, b = d.ou("a"), d.ou("b")
    d.write([user(1, a), user(2, a), user(3, a)], [group("team", a, 1, 2, 3)])
    async with services():
        first = await d.run(capsys)
        assert (first.stats.created, first.stats.failed) == (4, 0), first.stats
        d.write(
            [user(1, a), user(2, a, "Ada, Lovelace", at=NEW), user(3, b, "#Bo + Co ", at=NEW)],
            [group("team", a, 1, 2, 3)],
        )
        changed = await run_shape(d, capsys, shape, ["p2", "p3"])
        assert changed.stats.failed == 0, changed.stats
        state = d.state()
        p2, p3 = cdn(f"cn=Ada\\, Lovelace,{a}"), cdn(f"cn=\\#Bo \\+ Co\\ ,{b}")
        assert p2 in state and p3 in state, sorted(state)
        assert state[cdn(f"cn=team,{a}")]["member"] == sorted([cdn(f"cn=Person 1,{a}"), p2, p3]), (
            "the group names its renamed members as they are now",
            state,
        )
        again = await d.run(capsys)
        assert again.stats.written == 0, again.stats


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_leaver_moved_away_returns_to_the_container_its_record_names(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    d = directory
    await d.define()
    a, b, gone = d.ou("a"), d.ou("b"), d.ou("gone")
    d.write([user(1, a), user(2, a)], [group("team", a, 1, 2)])
    async with services():
        assert (await d.run(capsys)).stats.created == 3
        d.write([user(1, a)], [group("team", a, 1, at=NEW)])  # p2 leaves
        left = await d.run(capsys)
        assert (left.stats.moved, left.stats.updated) == (1, 1), left.stats
        state = d.state()
        assert cdn(f"uid=p2,{gone}") in state
        assert state[cdn(f"cn=team,{a}")]["member"] == [cdn(f"uid=p1,{a}")]

        # p2 comes back, in another OU, and into the group again
        d.write([user(1, a), user(2, b, at=NEW)], [group("team", a, 1, 2, at=NEW)])
        back = await run_shape(d, capsys, shape, ["p2", "team"])
        assert (back.stats.moved, back.stats.failed) == (1, 0), back.stats
        state = d.state()
        assert cdn(f"uid=p2,{b}") in state and cdn(f"uid=p2,{gone}") not in state
        assert state[cdn(f"cn=team,{a}")]["member"] == sorted(
            [cdn(f"uid=p1,{a}"), cdn(f"uid=p2,{b}")]
        )
        again = await d.run(capsys)
        assert again.stats.written == 0, again.stats


SPECIAL = ["a,b", "c+d", 'e"f', "g\\h", "#i", "j;k", "l<m>", "n=o", "Café", "P Q"]


def plain_job(base: str, folded: bool = False) -> str:
    return f"""id = "{JOB}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "dir", container = "{base}" }}
safety = {{ max_percent = 100 }}

[[objects]]
type = "user"
keys = ["uid"]
case_insensitive = {str(folded).lower()}
on_destination_only = "delete"
destination = {{ object_classes = ["inetOrgPerson"] }}
fields = [
  {{ to = "uid", from = "id" }},
  {{ to = "cn", from = "name" }},
  {{ to = "sn", from = "name" }},
]
"""


@pytest.mark.parametrize("shape", ["whole", "key"])
async def test_keys_with_dn_special_characters_are_found_in_every_shape(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    """Keys that must be escaped in a DN (and one in another Unicode form in the source
    than in the directory): created once, then found and updated in place."""
    d = directory
    await define(d.session, d.folder, connections_toml(d.folder, d.slapd), plain_job(d.base))
    rows = [{"id": k, "name": f"N {k}", "ou": "", "at": OLD} for k in SPECIAL]
    d.write(rows, [])
    async with services():
        first = await d.run(capsys)
        assert (first.stats.created, first.stats.failed) == (len(SPECIAL), 0), first.stats
        created = d.state()
        assert len(created) == len(SPECIAL)
        renamed = [{**r, "name": f"M {r['id']}"} for r in rows]
        renamed[SPECIAL.index("Café")]["id"] = unicodedata.normalize("NFD", "Café")
        d.write(renamed, [])
        second = await run_shape(d, capsys, shape, [r["id"] for r in renamed])
        assert (second.stats.updated, second.stats.created, second.stats.failed) == (
            len(SPECIAL),
            0,
            0,
        ), second.stats
        state = d.state()
        assert set(state) == set(created)
        assert sorted(v["cn"][0] for v in state.values()) == sorted(f"M {k}" for k in SPECIAL)


async def test_a_new_user_named_as_another_one_takes_nothing_of_it(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str]
) -> None:
    """Users named by their cn: a new user with the cn of one there (another key) cannot
    have its DN; it fails, and the entry there keeps its key and values."""
    d = directory
    await d.define(rdn="cn")
    a = d.ou("a")
    d.write([user(1, a, "John Smith")], [])
    async with services():
        assert (await d.run(capsys)).stats.created == 1
        d.write([user(1, a, "John Smith"), user(2, a, "John Smith")], [])
        second = await d.run(capsys)
        found = entries(d.slapd, d.base)
        assert (second.stats.created, second.stats.failed) == (0, 1), (second.stats, found)
        assert [e["uid"] for e in found.values()] == [[b"p1"]], found


async def test_a_create_sent_again_sets_its_values_and_takes_no_one_elses_entry(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    """Entries named by cn, keyed by uid. A create whose entry is there already (sent
    again after a broken connection) sets its values; one whose DN another key holds
    fails and leaves that entry as it is."""
    conn = connection(tmp_path, slapd.url)
    side = await provider(conn, ldap_base, USER, rdn_attribute="cn")
    try:
        assert [o.error for o in await side.apply([create("p1", cn="Ann", sn="A")])] == [None]
    finally:
        await side.close()
    fresh = await provider(conn, ldap_base, USER, rdn_attribute="cn")  # knows no DN yet
    try:
        again, other = await fresh.apply(
            [create("p1", cn="Ann", sn="B"), create("p2", cn="ANN", sn="C")]
        )
    finally:
        await fresh.close()
    assert again.error is None
    assert other.error is not None and "another entry already has this DN" in other.error
    assert [(e["uid"], e["sn"]) for e in entries(slapd, ldap_base).values()] == [([b"p1"], [b"B"])]


LEAVERS = 'leavers = { when = { field = "status", equals = "Terminated" }, action = "move" }'


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_leaver_the_record_says_has_left_is_moved_away_and_back_in_every_shape(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    d = directory
    await d.define(leavers=LEAVERS)
    a, b, gone = d.ou("a"), d.ou("b"), d.ou("gone")
    d.write([user(1, a), user(2, a)], [group("team", a, 1)])
    async with services():
        assert (await d.run(capsys)).stats.created == 3
        d.write([user(1, a), {**user(2, a, at=NEW), "status": "Terminated"}], [group("team", a, 1)])
        left = await run_shape(d, capsys, shape, ["p2"])
        assert (left.stats.moved, left.stats.failed) == (1, 0), left.stats
        assert cdn(f"uid=p2,{gone}") in d.state()

        d.write(
            [user(1, a), {**user(2, b, at=NEWER), "status": "Active"}],
            [group("team", a, 1)],
        )
        back = await run_shape(d, capsys, shape, ["p2"])
        assert (back.stats.moved, back.stats.failed) == (1, 0), back.stats
        state = d.state()
        assert cdn(f"uid=p2,{b}") in state and cdn(f"uid=p2,{gone}") not in state
        again = await d.run(capsys)
        assert again.stats.written == 0, again.stats


@pytest.mark.parametrize("folded", [False, True])
@pytest.mark.parametrize("shape", ["whole", "key"])
async def test_a_key_whose_case_changes_in_the_source_keeps_its_entry(
    directory: Directory,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
    shape: str,
    folded: bool,
) -> None:
    """uid ignores case in the directory: "Ann" and "ann" name one entry, which a
    run must neither lose nor count twice."""
    d = directory
    await define(
        d.session, d.folder, connections_toml(d.folder, d.slapd), plain_job(d.base, folded)
    )
    d.write([{"id": "Ann", "name": "Ann", "ou": "", "at": OLD}], [])
    async with services():
        assert (await d.run(capsys)).stats.created == 1
        d.write([{"id": "ann", "name": "Ann L", "ou": "", "at": OLD}], [])
        changed = await run_shape(d, capsys, shape, ["ann"])
        found = entries(d.slapd, d.base)
        assert [e["cn"] for e in found.values()] == [[b"Ann L"]], (changed.stats, found)
        again = await d.run(capsys)
        found = entries(d.slapd, d.base)
        assert [e["cn"] for e in found.values()] == [[b"Ann L"]], (again.stats, found)


LEAVERS_DELETED = (
    'leavers = { when = { field = "status", equals = "Terminated" }, action = "delete" }'
)


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_group_the_run_does_not_read_follows_its_members_renamed_and_deleted(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    """The group's record is older than the watermark: an incremental run does not read
    it, nor does a run scoped to its members' keys. One member renamed, one deleted (a
    leaver): the group names the one anew and lets the other go, as a whole run does."""
    d = directory
    await d.define(rdn="cn", leavers=LEAVERS_DELETED)
    a = d.ou("a")
    # The watermarks (each type's own): NEW.
    team, others = group("team", a, 1, 2, 3), group("others", a, 1, at=NEW)
    d.write([user(1, a, at=NEW), user(2, a), user(3, a)], [team, others])
    async with services():
        first = await d.run(capsys)
        assert (first.stats.created, first.stats.failed) == (5, 0), first.stats
        left = {**user(3, a, at=NEWER), "status": "Terminated"}
        d.write([user(1, a, at=NEW), user(2, a, "Ada", at=NEWER), left], [team, others])
        changed = await run_shape(d, capsys, shape, ["p2", "p3"])
        assert changed.stats.deleted == 1, changed.stats
        state = d.state()
        assert state[cdn(f"cn=team,{a}")]["member"] == sorted(
            [cdn(f"cn=Person 1,{a}"), cdn(f"cn=Ada,{a}")]
        ), ("the group names its members as they are now", state)
        again = await d.run(capsys)
        assert again.stats.written == 0, again.stats


@pytest.mark.parametrize("shape", ["whole", "incremental"])
async def test_a_new_leaver_created_and_moved_away_is_named_there_in_its_group(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    """A leaver with no entry yet is created, then moved where leavers go (`new =
    "create"`): the group that names it names it there."""
    d = directory
    await d.define(leavers=LEAVERS[:-1] + ', new = "create" }')
    a, gone = d.ou("a"), d.ou("gone")
    d.write([user(1, a)], [group("team", a, 1)])
    async with services():
        assert (await d.run(capsys)).stats.created == 2
        left = {**user(2, a, at=NEW), "status": "Terminated"}
        d.write([user(1, a), left], [group("team", a, 1, 2, at=NEW)])
        changed = await run_shape(d, capsys, shape, [])
        assert (changed.stats.created, changed.stats.failed) == (1, 0), changed.stats
        state = d.state()
        assert cdn(f"uid=p2,{gone}") in state, sorted(state)
        assert state[cdn(f"cn=team,{a}")]["member"] == sorted(
            [cdn(f"uid=p1,{a}"), cdn(f"uid=p2,{gone}")]
        ), ("the group names the leaver where it is", state)
        again = await d.run(capsys)
        assert again.stats.written == 0, again.stats


def leavers_job(base: str) -> str:
    """Leavers moved away, and moved back when they return: to where new entries go (the
    job's container), the job naming no container of its own."""
    leavers = (
        'leavers = { when = { field = "status", equals = "Terminated" }, action = "move", '
        f'move_to = "ou=gone,{base}" }}'
    )
    return plain_job(base).replace(
        'on_destination_only = "delete"', f'on_destination_only = "skip"\nrestore = true\n{leavers}'
    )


@pytest.mark.parametrize("shape", ["whole", "key"])
async def test_a_leaver_back_where_new_entries_go_is_moved_back_once(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    """Back, the entry is moved where new ones go, and is no longer absent: the next run
    moves it no more (nor would its next absence delete it at once)."""
    d = directory
    await define(d.session, d.folder, connections_toml(d.folder, d.slapd), leavers_job(d.base))
    gone = d.ou("gone")
    active = {"id": "p1", "name": "Person 1", "ou": "", "at": OLD, "status": "Active"}
    d.write([active], [])
    async with services():
        assert (await d.run(capsys)).stats.created == 1
        d.write([{**active, "status": "Terminated"}], [])
        left = await d.run(capsys)
        assert left.stats.moved == 1, left.stats
        assert cdn(f"uid=p1,{gone}") in d.state()
        d.write([{**active, "at": NEW}], [])
        back = await run_shape(d, capsys, shape, ["p1"])
        assert (back.stats.moved, back.stats.failed) == (1, 0), back.stats
        assert cdn(f"uid=p1,{d.base}") in d.state()
        again = await d.run(capsys)
        assert again.stats.written == 0, ("back once, and no longer absent", again.stats)


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_group_holding_its_placeholder_gets_its_new_member_instead(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    """A group that named no one holds the placeholder; its record, older than the
    watermark, names a user new since: every shape gives the group the user in the
    placeholder's place, as a whole run does, and a whole run afterwards writes nothing."""
    d = directory
    await d.define()
    a = d.ou("a")
    others = group("others", a, 1, at=NEW)  # the groups' watermark: NEW
    d.write([user(1, a)], [group("team", a), others])
    async with services():
        first = await d.run(capsys)
        assert (first.stats.created, first.stats.failed) == (3, 0), first.stats
        assert d.state()[cdn(f"cn=team,{a}")]["member"] == [cdn(f"cn=nobody,{d.base}")]
        d.write([user(1, a), user(3, a, at=NEW)], [group("team", a, 3), others])
        added = await run_shape(d, capsys, shape, ["p3"])
        assert (added.stats.created, added.stats.updated, added.stats.failed) == (1, 1, 0), (
            added.stats
        )
        assert d.state()[cdn(f"cn=team,{a}")]["member"] == [cdn(f"uid=p3,{a}")]
        again = await d.run(capsys)
        assert again.stats.written == 0, again.stats


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_leaver_still_in_its_group_is_named_where_it_goes_and_comes_back(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    """The group's record keeps naming a leaver (moved away for absence, then back): the
    group names it in `ou=gone`, then where it comes back — in a run scoped to the
    leaver's key alone (the group out of its scope), and an incremental one, as in a
    whole run — and a whole run after finds nothing to do."""
    d = directory
    await d.define()
    a, b, gone = d.ou("a"), d.ou("b"), d.ou("gone")
    team = group("team", a, 1, 2)
    d.write([user(1, a), user(2, a)], [team])
    async with services():
        assert (await d.run(capsys)).stats.created == 3
        d.write([user(1, a)], [team])  # p2 leaves; the group still names p2
        left = await d.run(capsys)
        assert (left.stats.moved, left.stats.failed) == (1, 0), left.stats
        state = d.state()
        assert state[cdn(f"cn=team,{a}")]["member"] == sorted(
            [cdn(f"uid=p1,{a}"), cdn(f"uid=p2,{gone}")]
        )
        assert (await d.run(capsys)).stats.written == 0

        d.write([user(1, a), user(2, b, at=NEW)], [team])  # p2 back, in another OU
        back = await run_shape(d, capsys, shape, ["p2"])
        assert (back.stats.moved, back.stats.failed) == (1, 0), back.stats
        state = d.state()
        assert cdn(f"uid=p2,{b}") in state
        assert state[cdn(f"cn=team,{a}")]["member"] == sorted(
            [cdn(f"uid=p1,{a}"), cdn(f"uid=p2,{b}")]
        )
        again = await d.run(capsys)
        assert (again.stats.written, again.stats.failed) == (0, 0), again.stats


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_leaver_back_under_another_name_is_renamed_and_moved_back_in_every_shape(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    """Users named by their cn: one moved away for absence comes back renamed, into
    another OU — renamed and moved back in one run, named anew in the group that kept
    naming it, whatever the shape; a whole run after finds nothing to do."""
    d = directory
    await d.define(rdn="cn")
    a, b, gone = d.ou("a"), d.ou("b"), d.ou("gone")
    team = group("team", a, 1, 2)
    d.write([user(1, a), user(2, a)], [team])
    async with services():
        assert (await d.run(capsys)).stats.created == 3
        d.write([user(1, a)], [team])  # p2 leaves
        left = await d.run(capsys)
        assert (left.stats.moved, left.stats.failed) == (1, 0), left.stats
        assert cdn(f"cn=Person 2,{gone}") in d.state()

        d.write([user(1, a), user(2, b, "Ada Byron", at=NEW)], [team])
        back = await run_shape(d, capsys, shape, ["p2"])
        assert back.stats.failed == 0, back.stats
        state = d.state()
        assert cdn(f"cn=Ada Byron,{b}") in state, sorted(state)
        assert state[cdn(f"cn=team,{a}")]["member"] == sorted(
            [cdn(f"cn=Person 1,{a}"), cdn(f"cn=Ada Byron,{b}")]
        )
        again = await d.run(capsys)
        assert (again.stats.written, again.stats.failed) == (0, 0), again.stats
