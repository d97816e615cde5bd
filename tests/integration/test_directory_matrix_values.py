"""Values a real slapd stores in its own spelling, written by jobs planned and applied in
process (the planner and `apply_by_type`, as a runner applies a batch): a run after a
successful one plans nothing — whatever spelling the source gives a DN-valued attribute,
a binary value, a field's name — and a change that fails (a record's transformation, a
move into an OU that is not there, a value the server refuses) fails alone and leaves
its entry where it is."""

from __future__ import annotations

import base64
import csv
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest

from schemas.connections import Connection, CsvConnection
from schemas.jobs import Job
from schemas.plan import Change
from services.providers.ldap.wire import Disconnected
from services.providers.ldap.write import Pipeline
from services.runner.planning import PlannedRun, Sides, plan_job
from services.runner.planning.sides import apply_by_type, open_pair
from tests.ldap_server import Slapd

from .ldap_helpers import USER, add_ou, admin, connection, entries, provider, read_all

Row = dict[str, str]


class Harness:
    """A CSV of people into an OU of the test slapd: planned and applied in process."""

    def __init__(self, slapd: Slapd, base: str, folder: Path, job: dict[str, Any]) -> None:
        self.slapd, self.base, self.folder = slapd, base, folder
        (folder / "data").mkdir(parents=True, exist_ok=True)
        self.connections: tuple[Connection, Connection] = (
            CsvConnection(id="hr", directory=str(folder / "data"), delimiter=";"),
            connection(folder, slapd.url),
        )
        self.job = msgspec.convert(
            {
                "id": "values",
                "source": {"connection": "hr", "file": "people.csv"},
                "destination": {"connection": "dir", "container": base},
                "safety": {"max_percent": 100},
                **job,
            },
            Job,
        )

    def write(self, rows: Sequence[Row], name: str = "people.csv") -> None:
        header = list(dict.fromkeys(k for row in rows for k in row))
        with (self.folder / "data" / name).open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=header, delimiter=";")
            writer.writeheader()
            writer.writerows(rows)

    async def plan(self, keys: list[str] | None = None) -> PlannedRun:
        """Every object type's sides opened as a run opens them, and the job planned."""
        pairs = [open_pair(*self.connections, self.job, at) for at in range(len(self.job.objects))]
        try:
            for source, destination in pairs:
                await source.open(write=False)
                await destination.open(write=True)
            (source, destination), *others = pairs
            return await plan_job(
                self.job, Sides(source, destination, others, self.connections), keys
            )
        finally:
            for source, destination in pairs:
                await source.close()
                await destination.close()

    async def apply(self, planned: PlannedRun) -> dict[str, str | None]:
        """Each phase's changes applied in turn; the error of each change by its key."""
        errors: dict[str, str | None] = {}
        changes: list[Change] = list(planned.plan.changes)
        for _, phase in itertools.groupby(changes, key=lambda c: c.phase):
            batch = list(phase)
            outcomes = await apply_by_type(self.job, self.connections[1], batch)
            for change, outcome in zip(batch, outcomes, strict=True):
                errors[change.key] = errors.get(change.key) or outcome.error
        return errors

    async def run(self, keys: list[str] | None = None) -> tuple[PlannedRun, dict[str, str | None]]:
        planned = await self.plan(keys)
        return planned, await self.apply(planned)

    def entries(self) -> dict[str, dict[str, list[bytes]]]:
        return entries(self.slapd, self.base)


def people_job(*fields: dict[str, Any], **mapping: Any) -> dict[str, Any]:
    return {
        "objects": [
            {
                "keys": ["uid"],
                "destination": {"object_classes": ["inetOrgPerson"]},
                "fields": [{"to": "uid", "from": "id"}, {"to": "cn"}, {"to": "sn"}, *fields],
                **mapping,
            }
        ]
    }


async def test_a_dn_valued_attribute_in_another_spelling_is_written_once(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    """slapd keeps a DN value as it prettifies it (`UID=boss, OU=People` is kept as
    `uid=boss,ou=People`): a run after the first, on the same data, writes nothing."""
    h = Harness(
        slapd,
        ldap_base,
        tmp_path,
        people_job(
            {"to": "manager", "from": "boss"},
            {"to": "seeAlso", "from": "see", "delimiter": "|"},
        ),
    )
    boss = f"UID=p0, OU=Test , {ldap_base.upper()}"
    see = f"cn=Team A,{ldap_base}| CN = Team B , {ldap_base}"
    h.write([{"id": "p1", "cn": "P 1", "sn": "P", "boss": boss, "see": see}])
    first, errors = await h.run()
    assert first.plan.counts.create == 1 and errors == {"p1": None}, errors
    [stored] = h.entries().values()
    assert stored["manager"] != [boss.encode()], "the server keeps its own spelling"
    again = await h.plan()
    assert [c.action for c in again.plan.changes] == [], again.plan.changes
    scoped = await h.plan(["p1"])  # a run scoped to the key, its entry looked up
    assert [c.action for c in scoped.plan.changes] == [], scoped.plan.changes


async def test_a_binary_value_and_fields_named_in_another_case_are_written_once(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    h = Harness(
        slapd,
        ldap_base,
        tmp_path,
        people_job(
            {"to": "jpegphoto", "from": "photo"},
            {"to": "GIVENNAME", "from": "given"},
            {"to": "description", "from": "about", "delimiter": "|"},
        ),
    )
    photo = "/9j/AAEC"  # base64 of ff d8 ff 00 01 02
    h.write([{"id": "p1", "cn": "P 1", "sn": "P", "photo": photo, "given": "Ann", "about": "b|a"}])
    first, errors = await h.run()
    assert first.plan.counts.create == 1 and errors == {"p1": None}, errors
    again = await h.plan()
    assert [c.action for c in again.plan.changes] == [], again.plan.changes


async def test_a_move_into_an_ou_that_is_not_there_fails_alone(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    """Users follow the OU their record names: one names an OU that does not exist. Its
    move fails, naming the parent; the other user's move is made; the entry that could
    not move stays where it was, and the next run tries again, deleting nothing."""
    for ou in ("a", "b"):
        add_ou(slapd, f"ou={ou},{ldap_base}")
    h = Harness(
        slapd,
        ldap_base,
        tmp_path,
        people_job(container_from="ou", on_destination_only="delete"),
    )
    a, b, nowhere = (f"ou={ou},{ldap_base}" for ou in ("a", "b", "nowhere"))
    h.write([{"id": f"p{n}", "cn": f"P {n}", "sn": "P", "ou": a} for n in (1, 2)])
    _, errors = await h.run()
    assert errors == {"p1": None, "p2": None}
    h.write(
        [
            {"id": "p1", "cn": "P 1", "sn": "P", "ou": b},
            {"id": "p2", "cn": "P 2", "sn": "P", "ou": nowhere},
        ]
    )
    moved, errors = await h.run()
    assert moved.plan.counts.move == 2, moved.plan.counts
    assert errors["p1"] is None
    assert errors["p2"] is not None and "does not exist" in errors["p2"], errors
    dns = {dn.lower() for dn in h.entries()}
    assert dns == {f"uid=p1,{b}".lower(), f"uid=p2,{a}".lower()}, dns
    again = await h.plan()
    assert [(c.action, c.key) for c in again.plan.changes] == [("move", "p2")]


async def test_a_record_failing_its_transformation_is_never_moved_nor_deleted(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    for ou in ("a", "b"):
        add_ou(slapd, f"ou={ou},{ldap_base}")
    h = Harness(
        slapd,
        ldap_base,
        tmp_path,
        people_job(
            {"to": "title", "from": "born", "transform": {"date": "%d.%m.%Y", "to": "%Y"}},
            container_from="ou",
            on_destination_only="delete",
        ),
    )
    a, b = f"ou=a,{ldap_base}", f"ou=b,{ldap_base}"
    rows = [
        {"id": f"p{n}", "cn": f"P {n}", "sn": "P", "ou": a, "born": "01.02.1990"} for n in (1, 2)
    ]
    h.write(rows)
    _, errors = await h.run()
    assert errors == {"p1": None, "p2": None}
    h.write([rows[0], {**rows[1], "ou": b, "born": "soon"}])
    planned, errors = await h.run()
    assert [e.key for e in planned.record_errors] == ["p2"]
    assert [(c.action, c.key) for c in planned.plan.changes] == [], planned.plan.changes
    assert {dn.lower() for dn in h.entries()} == {f"uid=p{n},{a}".lower() for n in (1, 2)}


async def test_a_move_sent_again_into_an_ou_that_is_not_there_is_not_taken_as_done(
    slapd: Slapd, ldap_base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection breaks before a batch's moves are answered, and they are sent
    again on a new one: one whose entry is there already (the first sending was applied)
    is done; one refused because its new parent does not exist is that move's error —
    never counted as made — and its entry stays where it was."""
    for ou in ("a", "b"):
        add_ou(slapd, f"ou={ou},{ldap_base}")
    a, b, nowhere = (f"ou={ou},{ldap_base}" for ou in ("a", "b", "nowhere"))
    with admin(slapd) as conn:
        for uid, ou in (("p1", b), ("p2", a)):  # p1's move to b was applied, unanswered
            assert conn.add(f"uid={uid},{ou}", ["inetOrgPerson"], {"cn": uid, "sn": "S"})
    side = await provider(connection(tmp_path, slapd.url), ldap_base, USER)
    try:
        await read_all(side)  # the read knows p1 where it was before its move
        cast(Any, side)._dns[("p1",)] = f"uid=p1,{a}"
        cut: set[int] = set()
        run = Pipeline.run

        def cut_once(self: Pipeline, steps: list[Any]) -> None:
            """Each connection breaks before its first request is sent."""
            if id(self) not in cut:
                cut.add(id(self))
                raise Disconnected("cut")
            run(self, steps)

        monkeypatch.setattr(Pipeline, "run", cut_once)
        moves = [
            Change(action="move", key=uid, match={"uid": uid}, container=to)
            for uid, to in (("p1", b), ("p2", nowhere))
        ]
        made, refused = await side.apply(moves)
    finally:
        await side.close()
    assert made.error is None, made.error
    assert refused.error is not None and f"parent {nowhere} does not exist" in refused.error, (
        refused.error
    )
    assert {dn.lower() for dn in entries(slapd, ldap_base)} == {
        f"uid=p1,{b}".lower(),
        f"uid=p2,{a}".lower(),
    }


async def test_a_value_the_server_refuses_fails_its_entry_alone(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    """mail is IA5 text: an address with an accent is refused by the server. That user's
    create and update fail, the others are written, and nothing else is planned again."""
    h = Harness(
        slapd, ldap_base, tmp_path, people_job({"to": "mail"}, on_destination_only="delete")
    )
    rows = [{"id": f"p{n}", "cn": f"P {n}", "sn": "P", "mail": f"p{n}@x.org"} for n in (1, 2, 3)]
    h.write([rows[0], {**rows[1], "mail": "zoë@x.org"}, rows[2]])
    _, errors = await h.run()
    assert errors["p1"] is None and errors["p3"] is None and errors["p2"] is not None, errors
    h.write([{**rows[0], "mail": "é@x.org"}, rows[1], {**rows[2], "cn": "Q 3"}])
    second, errors = await h.run()
    assert sorted((c.action, c.key) for c in second.plan.changes) == [
        ("create", "p2"),
        ("update", "p1"),
        ("update", "p3"),
    ]
    assert errors["p1"] is not None and errors["p2"] is None and errors["p3"] is None, errors
    found = {e["uid"][0]: e for e in h.entries().values()}
    assert found[b"p1"]["mail"] == [b"p1@x.org"] and found[b"p3"]["cn"] == [b"Q 3"]
    third = await h.plan()
    assert [(c.action, c.key) for c in third.plan.changes] == [("update", "p1")]


async def test_a_key_in_another_case_follows_its_ou_and_name_once(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    """Keys compared without case, entries named by cn: the source's "ann" is the
    entry "Ann"; it moves to the OU its record names and takes its new name (the
    case of its cn alone, then another name), and the next run plans nothing."""
    for ou in ("a", "b"):
        add_ou(slapd, f"ou={ou},{ldap_base}")
    a, b = f"ou=a,{ldap_base}", f"ou=b,{ldap_base}"
    job = people_job(container_from="ou", case_insensitive=True)
    job["objects"][0]["destination"]["rdn_attribute"] = "cn"
    h = Harness(slapd, ldap_base, tmp_path, job)
    h.write([{"id": "Ann", "cn": "Ann Lee", "sn": "Lee", "ou": a}])
    _, errors = await h.run()
    assert errors == {"Ann": None}
    for cn, ou in (("ANN LEE", b), ("Ann Smith", a)):
        h.write([{"id": "ann", "cn": cn, "sn": "Lee", "ou": ou}])
        planned, errors = await h.run()
        assert all(e is None for e in errors.values()), errors
        [(dn, stored)] = h.entries().items()
        assert stored["cn"] == [cn.encode()], (planned.plan.changes, stored)
        assert dn.lower().endswith(f",{ou}".lower()), dn
        again = await h.plan()
        assert [(c.action, c.key) for c in again.plan.changes] == [], again.plan.changes


@pytest.mark.parametrize(
    "placeholder",
    ["cn=Nobody, {base}", "CN=No\\, Body,{base}", "sn=Nobody+cn=nobody,{base}"],
    ids=["spaces", "an-escape", "two-values"],
)
async def test_a_group_holding_its_placeholder_spelled_otherwise_is_left_alone(
    slapd: Slapd, ldap_base: str, tmp_path: Path, placeholder: str
) -> None:
    """A group with no member holds the placeholder, which the job spells otherwise
    than the directory keeps it: the next run finds the group as it should be."""
    nobody = placeholder.format(base=ldap_base)
    member = {
        "to": "member",
        "from": "members",
        "delimiter": "|",
        "resolve": {"type": "user", "by": "uid", "placeholder": nobody},
    }
    job = people_job()
    job["objects"][0]["type"] = "user"
    job["objects"].append(
        {
            "type": "group",
            "keys": ["cn"],
            "source": {"file": "groups.csv"},
            "destination": {"object_classes": ["groupOfNames"]},
            "fields": [{"to": "cn", "from": "group"}, member],
        }
    )
    h = Harness(slapd, ldap_base, tmp_path, job)
    h.write([{"id": "p1", "cn": "P 1", "sn": "P"}])
    h.write([{"group": "empty", "members": ""}, {"group": "team", "members": "p1"}], "groups.csv")
    first, errors = await h.run()
    assert first.plan.counts.create == 3 and all(e is None for e in errors.values()), errors
    again = await h.plan()
    assert [(c.action, c.key) for c in again.plan.changes] == [], again.plan.changes


async def test_members_found_by_a_name_that_reads_as_a_dn_are_found(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    """Members found by their cn (`resolve`): a cn such as "x = y" reads as a DN, yet
    names a user by its cn as the source spells it, never respelled as a DN value."""
    member = {
        "to": "member",
        "from": "members",
        "delimiter": "|",
        "resolve": {"type": "user", "by": "cn", "placeholder": f"cn=nobody,{ldap_base}"},
    }
    job = people_job()
    job["objects"][0]["type"] = "user"
    job["objects"].append(
        {
            "type": "group",
            "keys": ["cn"],
            "source": {"file": "groups.csv"},
            "destination": {"object_classes": ["groupOfNames"]},
            "fields": [{"to": "cn", "from": "group"}, member],
        }
    )
    h = Harness(slapd, ldap_base, tmp_path, job)
    h.write([{"id": "p1", "cn": "x = y", "sn": "P"}, {"id": "p2", "cn": "Ann, Lee", "sn": "P"}])
    h.write([{"group": "team", "members": "x = y|Ann, Lee"}], "groups.csv")
    first, errors = await h.run()
    assert not first.record_errors and all(e is None for e in errors.values()), errors
    again = await h.plan()
    assert [(c.action, c.key) for c in again.plan.changes] == [], again.plan.changes


@pytest.mark.parametrize("spelled", ["lines", "spaces"])
async def test_a_binary_value_in_base64_over_several_lines_is_written_as_its_bytes(
    slapd: Slapd, ldap_base: str, tmp_path: Path, spelled: str
) -> None:
    """Exports wrap base64 at 76 characters (MIME, PowerShell, LDIF): the photo written
    is the bytes it holds, not its text, and the next run writes nothing."""
    photo = bytes(range(256)) * 2
    text = base64.encodebytes(photo).decode()  # lines of 76 characters
    if spelled == "spaces":
        text = " ".join(text.split("\n"))
    h = Harness(slapd, ldap_base, tmp_path, people_job({"to": "jpegPhoto", "from": "photo"}))
    h.write([{"id": "p1", "cn": "P 1", "sn": "P", "photo": text}])
    _, errors = await h.run()
    assert errors == {"p1": None}, errors
    [stored] = h.entries().values()
    assert stored["jpegPhoto"] == [photo]
    again = await h.plan()
    assert [c.action for c in again.plan.changes] == [], again.plan.changes


async def test_values_the_directory_holds_as_one_are_written_once(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    """businessCategory compares values without case, and without the spaces around
    them: "Staff", "staff" and " staff " are one value there, which a source listing
    them all must not make a record the directory refuses on every run."""
    h = Harness(
        slapd,
        ldap_base,
        tmp_path,
        people_job({"to": "businessCategory", "from": "groups", "delimiter": "|"}),
    )
    h.write([{"id": "p1", "cn": "P 1", "sn": "P", "groups": "Staff|wiki| staff |x|Wiki"}])
    _, errors = await h.run()
    assert errors == {"p1": None}, errors
    [stored] = h.entries().values()
    assert stored["businessCategory"] == [b"Staff", b"wiki", b"x"], stored
    assert [c.action for c in (await h.plan()).plan.changes] == []
    h.write([{"id": "p1", "cn": "P 1", "sn": "P", "groups": "x|X|y"}])
    _, errors = await h.run()
    assert errors == {"p1": None}, errors
    [stored] = h.entries().values()
    assert stored["businessCategory"] == [b"x", b"y"], stored
    assert [c.action for c in (await h.plan()).plan.changes] == []
    assert [c.action for c in (await h.plan(["p1"])).plan.changes] == []


async def test_a_merge_adds_no_value_the_directory_holds_in_another_case(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    merged = {"to": "businessCategory", "from": "groups", "delimiter": "|", "policy": "merge"}
    h = Harness(slapd, ldap_base, tmp_path, people_job(merged))
    h.write([{"id": "p1", "cn": "P 1", "sn": "P", "groups": "Staff"}])
    _, errors = await h.run()
    assert errors == {"p1": None}, errors
    h.write([{"id": "p1", "cn": "P 1", "sn": "P", "groups": "staff|wiki"}])
    _, errors = await h.run()
    assert errors == {"p1": None}, errors
    [stored] = h.entries().values()
    assert stored["businessCategory"] == [b"Staff", b"wiki"], stored
