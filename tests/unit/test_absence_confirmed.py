"""A full run acts on absence only once a source whose read may miss a record
(`MissesRecords`) confirms it: the objects it would delete, disable or move for absence
are looked up in the source first, and one found fails the run (`Transient`), nothing
planned to be written. In memory and in little memory, of one type and of two."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import msgspec
import pytest

from core.engine.lifecycle import Lifecycle
from core.errors import Transient
from schemas.jobs import Endpoint, FieldMap, Job, Leavers, ObjectMapping, Resolve, Safety
from schemas.values import Record
from services.providers.base import Provider
from services.runner.planning import PlannedRun, Sides, absence, plan_job
from services.runner.planning.reading import Reading

NOW = datetime(2026, 12, 7, tzinfo=UTC)


class Source:
    """Every record, but the first whole read misses those of `missed` (a read paged by
    offset while the source changed); looked up by any field, it finds them."""

    def __init__(
        self,
        records: list[Record],
        missed: Sequence[str] = (),
        may_miss: bool = True,
        folds: bool = False,
    ) -> None:
        self.records, self.missed, self.folds = records, set(missed), folds
        self.value_folds = lambda field: folds
        self.reads = 0
        self.lookups: list[list[str]] = []
        if may_miss:
            self.misses_records = lambda: True

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        self.reads += 1
        first = self.reads == 1
        yield [dict(r) for r in self.records if not (first and r.get("uid") in self.missed)]

    def reads_keys(self, field: str) -> bool:
        return True

    async def read_keys(
        self, field: str, values: Sequence[str], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        self.lookups.append(list(values))

        def spelled(value: object) -> object:
            return value.casefold() if self.folds and isinstance(value, str) else value

        asked = {spelled(value) for value in values}
        yield [dict(r) for r in self.records if spelled(r.get(field)) in asked]

    def canonical(self, record: Record) -> Record:
        return record


class Destination:
    """`rereadable`: the job is planned in little memory."""

    def __init__(
        self, records: list[Record], rereadable: bool = False, keys_fold: bool | None = False
    ) -> None:
        self.records, self.rereadable = records, rereadable
        if keys_fold is not None:
            self.keys_fold = keys_fold

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        yield [dict(r) for r in self.records]

    def canonical(self, record: Record) -> Record:
        return record


def mapping(action: str = "delete", kind: str = "user", **more: Any) -> ObjectMapping:
    fields = [FieldMap(to="login", from_="uid"), FieldMap(to="name", from_="cn")]
    return ObjectMapping(
        type=kind,
        keys=["login"],
        fields=fields,
        on_destination_only=action,  # type: ignore[arg-type]
        move_to="ou=gone" if action == "move" else None,
        **more,
    )


def job(*mappings: ObjectMapping) -> Job:
    side = Endpoint(connection="hr")
    return Job(id="people", source=side, destination=side, objects=list(mappings))


def people(*uids: str) -> list[Record]:
    return [{"uid": uid, "cn": uid.title()} for uid in uids]


def objects(*logins: str) -> list[Record]:
    return [{"login": login, "name": login.title()} for login in logins]


async def planned(
    the_job: Job,
    pairs: list[tuple[Source, Destination]],
    reading: Reading | None = None,
) -> PlannedRun:
    [first, *others] = [(cast(Provider, s), cast(Provider, d)) for s, d in pairs]
    return await plan_job(the_job, Sides(first[0], first[1], others), reading=reading)


def actions(run: PlannedRun) -> list[str]:
    return [f"{c.action} {c.object_type} {c.key}" for c in run.plan.changes if c.action != "create"]


LEAN = pytest.mark.parametrize("lean", [False, True], ids=["in memory", "little memory"])
ACTIONS = pytest.mark.parametrize("action", ["delete", "disable", "move"])


@LEAN
@ACTIONS
async def test_a_record_the_read_missed_is_found_and_the_run_fails(lean: bool, action: str) -> None:
    # bob is in the source throughout, but the whole read skipped him: his object
    # would be taken away.
    source = Source(people("ada", "bob", "cyd"), missed=["bob"])
    target = Destination(objects("ada", "bob", "cyd"), rereadable=lean)
    with pytest.raises(Transient) as refused:
        await planned(job(mapping(action)), [(source, target)])
    assert "holds 1 of the 1 user objects this run took for absent after all" in str(refused.value)
    assert "'bob'" in str(refused.value)
    assert source.lookups == [["bob"]]


@LEAN
@ACTIONS
async def test_objects_truly_absent_are_acted_on_as_planned(lean: bool, action: str) -> None:
    # zed is no longer in the source: looked up, not found, taken away — the same plan
    # (and hash) as from a source whose read misses nothing.
    target = Destination(objects("ada", "bob", "zed"), rereadable=lean)
    confirmed = Source(people("ada", "bob"))
    run = await planned(job(mapping(action)), [(confirmed, target)])
    plain = await planned(
        job(mapping(action)), [(Source(people("ada", "bob"), may_miss=False), target)]
    )
    assert actions(run) == [f"{action} user zed"]
    assert confirmed.lookups == [["zed"]]
    assert run.plan.hash == plain.plan.hash
    assert list(run.plan.changes) == list(plain.plan.changes)


@LEAN
async def test_a_run_with_nothing_absent_looks_nothing_up(lean: bool) -> None:
    source = Source(people("ada", "bob", "eve"))
    target = Destination(objects("ada", "bob"), rereadable=lean)
    run = await planned(job(mapping("delete")), [(source, target)])
    assert actions(run) == []
    assert source.lookups == [] and source.reads == 1


@ACTIONS
async def test_two_types_each_confirmed_and_one_found_fails_the_run(action: str) -> None:
    # The users' read missed bob; the groups' read missed nothing, and "old" is gone.
    users = Source(people("ada", "bob"), missed=["bob"])
    groups = Source(people("staff"))
    the_job = job(mapping(action), mapping("delete", kind="group"))
    pairs = [
        (users, Destination(objects("ada", "bob"))),
        (groups, Destination(objects("staff", "old"))),
    ]
    with pytest.raises(Transient) as refused:
        await planned(the_job, pairs)
    assert "holds 1 of the 2 objects this run took for absent after all" in str(refused.value)
    assert "the user 'bob'" in str(refused.value)
    assert users.lookups == [["bob"]] and groups.lookups == [["old"]]
    # Read in full this time: the group is deleted, the users left alone.
    users.reads = 0
    users.missed = set()
    run = await planned(the_job, pairs)
    assert actions(run) == ["delete group old"]


async def test_a_lifecycles_late_delete_is_confirmed_too() -> None:
    # bob was disabled 40 days ago for absence; back since, but missed by this read:
    # his delete after 30 days is refused.
    long_ago = {"bob": NOW - timedelta(days=40)}
    lifecycle = Lifecycle(absent_since=long_ago, now=NOW, delete_after=timedelta(days=30))
    reading = Reading(lifecycles={"user": lifecycle})
    source = Source(people("ada", "bob"), missed=["bob"])
    target = Destination(objects("ada", "bob"))
    with pytest.raises(Transient, match="'bob'"):
        await planned(job(mapping("disable", delete_after="30d")), [(source, target)], reading)


async def test_a_leavers_action_is_not_absence() -> None:
    # bob is a leaver: the source holds him, his object is disabled; nothing to confirm.
    leavers = Leavers(when={"field": "status", "equals": "gone"}, action="disable")
    records: list[Record] = [*people("ada"), {"uid": "bob", "cn": "Bob", "status": "gone"}]
    source = Source(records)
    target = Destination(objects("ada", "bob"))
    run = await planned(job(mapping("delete", leavers=leavers)), [(source, target)])
    assert actions(run) == ["disable user bob"]
    assert source.lookups == []


async def test_a_key_not_copied_as_it_is_has_the_source_read_again() -> None:
    # The login is made from the uid by a transformation: the lookup cannot find it by
    # the uid, so the source is read whole once more — which finds bob.
    made = ObjectMapping(
        keys=["login"],
        fields=[
            FieldMap(to="login", from_="uid", transform=["lower"]),
            FieldMap(to="name", from_="cn"),
        ],
        on_destination_only="delete",
    )
    source = Source(people("ada", "bob"), missed=["bob"])
    with pytest.raises(Transient, match="'bob'"):
        await planned(job(made), [(source, Destination(objects("ada", "bob")))])
    assert source.lookups == [] and source.reads == 2


async def test_more_absent_objects_than_worth_looking_up_have_the_source_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(absence, "LOOKUP_AT_MOST", 1)
    source = Source(people("ada", "bob", "cyd"), missed=["bob", "cyd"])
    with pytest.raises(Transient, match="holds 2 of the 2 user objects"):
        await planned(job(mapping("delete")), [(source, Destination(objects("ada", "bob", "cyd")))])
    assert source.lookups == [] and source.reads == 2


async def test_a_record_found_outside_the_sources_where_is_absent() -> None:
    # The lookup finds bob, but out of the job's scope (`where`): his object goes.
    records: list[Record] = [
        {"uid": "ada", "cn": "Ada", "ok": "y"},
        {"uid": "bob", "cn": "Bob", "ok": "n"},
    ]
    side = Endpoint(connection="hr", where={"field": "ok", "equals": "y"})
    the_job = Job(id="people", source=side, destination=side, objects=[mapping("delete")])
    source = Source(records, missed=["bob"])
    run = await planned(the_job, [(source, Destination(objects("ada", "bob")))])
    assert actions(run) == ["delete user bob"]
    assert source.lookups == [["bob"]]


@pytest.mark.parametrize("keys_fold", [True, None], ids=["folds", "not known"])
async def test_a_key_found_in_another_case_holds_an_object_that_may_be_it(
    keys_fold: bool | None,
) -> None:
    # The read missed "Bob"; the destination holds "bob" and may compare keys without
    # case: read, "Bob" would have left "bob" alone (a warning), so "bob" is no absence.
    source = Source([*people("ada"), {"uid": "Bob", "cn": "Bob"}], missed=["Bob"], folds=True)
    target = Destination(objects("ada", "bob"), keys_fold=keys_fold)
    with pytest.raises(Transient, match="'bob'"):
        await planned(job(mapping("delete")), [(source, target)])


async def test_a_key_in_another_case_is_another_object_where_keys_compare_with_case() -> None:
    # A destination comparing keys with case (a file): "Bob" is not "bob", which goes.
    source = Source([*people("ada"), {"uid": "Bob", "cn": "Bob"}], folds=True)
    target = Destination(objects("ada", "bob"), keys_fold=False)
    run = await planned(job(mapping("delete")), [(source, target)])
    assert actions(run) == ["delete user bob"]
    assert source.lookups == [["bob"]]


@pytest.mark.parametrize("keys_fold", [False, None], ids=["with case", "not known"])
async def test_a_key_in_another_case_is_read_whole_where_lookups_keep_to_their_case(
    keys_fold: bool | None,
) -> None:
    # The read missed "Bob"; the job compares keys without case (or the destination may),
    # so "bob" is his object. A lookup of "bob" in a source that compares with case finds
    # no "Bob": the source is read whole again instead, and finds him.
    source = Source([*people("ada"), {"uid": "Bob", "cn": "Bob"}], missed=["Bob"])
    target = Destination(objects("ada", "bob"), keys_fold=keys_fold)
    the_job = job(mapping("delete", case_insensitive=keys_fold is False))
    with pytest.raises(Transient, match="'bob'"):
        await planned(the_job, [(source, target)])
    assert source.lookups == [] and source.reads == 2


@pytest.mark.parametrize("held", ["bob  ", "\tbob", "bo\u0301b"], ids=["spaces", "tab", "NFD"])
async def test_a_key_the_destination_spells_otherwise_is_looked_up_as_the_run_compares_it(
    held: str,
) -> None:
    # The run compares keys without spaces around them, in NFC: the object held as
    # "bob  " (or "bób" in NFD) is the record "bob" ("bób" in NFC) the read missed. A
    # source matching values as they are spelled finds it by that spelling alone.
    uid = unicodedata.normalize("NFC", held).strip()
    source = Source([*people("ada"), {"uid": uid, "cn": "Bob"}], missed=[uid])
    target = Destination([*objects("ada"), {"login": held, "name": "Bob"}])
    with pytest.raises(Transient, match=re.escape(repr(held))):
        await planned(job(mapping("delete")), [(source, target)])
    assert [uid in asked and held in asked for asked in source.lookups] == [True]


@LEAN
async def test_a_move_to_a_new_container_and_an_update_are_not_absence(lean: bool) -> None:
    # ada's record names another container (she is moved there), bob's another name (he
    # is updated): both are in the source; only cyd, absent, is looked up.
    records: list[Record] = [
        {"uid": "ada", "cn": "Ada", "ou": "ou=b"},
        {"uid": "bob", "cn": "Robert", "ou": "ou=a"},
    ]
    found: list[Record] = [
        {"login": login, "name": login.title(), "@container": "ou=a"}
        for login in ("ada", "bob", "cyd")
    ]
    source = Source(records)
    target = Destination(found, rereadable=lean)
    run = await planned(job(mapping("delete", container_from="ou")), [(source, target)])
    assert sorted(actions(run)) == ["delete user cyd", "move user ada", "update user bob"]
    assert run.plan.absent == {"user": [{"login": "cyd"}]}
    assert source.lookups == [["cyd"]]


async def test_members_resolved_are_no_absence_but_their_users_are() -> None:
    # Groups name their members (resolved among the users by login). The users' read
    # missed bob: his delete is looked up and refused, and so is the run — the staff
    # group losing him with it. Read whole, cyd (gone) is deleted and dropped from the
    # group: an update of the group's members, not looked up.
    resolve = Resolve(type="user", by="login")
    members = FieldMap(to="members", from_="members", delimiter=";", resolve=resolve)
    groups = ObjectMapping(
        type="group",
        keys=["name"],
        fields=[FieldMap(to="name", from_="uid"), members],
        on_destination_only="delete",
    )
    users = Source(people("ada", "bob"), missed=["bob"])
    teams = Source([{"uid": "staff", "members": ["ada", "bob"]}])
    pairs = [
        (users, Destination(objects("ada", "bob", "cyd"))),
        (teams, Destination([{"name": "staff", "members": ["ada", "bob", "cyd"]}])),
    ]
    the_job = job(mapping("delete"), groups)
    with pytest.raises(Transient, match="the user 'bob'"):
        await planned(the_job, pairs)
    assert sorted(map(sorted, users.lookups)) == [["bob", "cyd"]] and teams.lookups == []
    users.missed = set()
    run = await planned(the_job, pairs)
    assert sorted(actions(run)) == ["delete user cyd", "update group staff"]
    assert run.plan.absent == {"user": [{"login": "cyd"}]}


@LEAN
async def test_the_safety_limits_judge_the_plan_confirmed_as_they_judge_it_unconfirmed(
    lean: bool,
) -> None:
    # Two of three objects absent, confirmed so: over the limits (max_count 1) alike,
    # with the same reason, for a source that may miss records and one that may not.
    safety = Safety(max_count=1, min_count=0)
    the_job = msgspec.structs.replace(job(mapping("delete")), safety=safety)
    target = Destination(objects("ada", "bob", "cyd"), rereadable=lean)
    confirmed = Source(people("ada"))
    run = await planned(the_job, [(confirmed, target)])
    plain = await planned(the_job, [(Source(people("ada"), may_miss=False), target)])
    assert confirmed.lookups == [["bob", "cyd"]]
    assert run.plan.hash == plain.plan.hash
    why = run.over_limits(the_job, None)
    assert why is not None and why == plain.over_limits(the_job, None)


class Holding(Source):
    """A source looked up by the texts a value holds (SCIM's `co`): the records whose
    field holds each text of one of the parts asked for — without ASCII case where it
    compares values so."""

    def __init__(self, records: list[Record], missed: Sequence[str] = (), folds: bool = False):
        super().__init__(records, missed, folds=folds)
        self.held: list[list[list[str]]] = []

    async def read_holding(
        self, field: str, parts: Sequence[Sequence[str]], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        self.held.append([list(texts) for texts in parts])

        def spelled(text: str) -> str:
            return "".join(c.lower() if c.isascii() else c for c in text) if self.folds else text

        def holds(value: object) -> bool:
            return isinstance(value, str) and any(
                all(spelled(text) in spelled(value) for text in texts) for texts in parts
            )

        yield [dict(r) for r in self.records if holds(r.get(field))]


@pytest.mark.parametrize(
    ("spelled", "keys_fold"),
    [("bob  ", False), ("\tbob", False), ("BOB ", None)],
    ids=["spaces", "tab", "another case and a space"],
)
async def test_a_record_the_source_spells_otherwise_is_found_by_what_it_holds(
    spelled: str, keys_fold: bool | None
) -> None:
    # The source holds "bob  " (or "BOB " where the destination may compare keys without
    # case), the destination "bob": the run takes them for one key. Looked up as "bob"
    # alone, the record the read missed was not found, and bob's object deleted.
    source = Holding([*people("ada"), {"uid": spelled, "cn": "Bob"}], [spelled], folds=True)
    target = Destination(objects("ada", "bob"), keys_fold=keys_fold)
    with pytest.raises(Transient, match="'bob'"):
        await planned(job(mapping("delete")), [(source, target)])
    assert source.held == [[["bob"]]] and source.lookups == [] and source.reads == 1


async def test_a_key_no_lookup_finds_in_every_spelling_has_the_source_read_again() -> None:
    # The job compares keys without case: "SS" is the object of the record "ß", and of
    # two long s (U+017F); no text is in every spelling of it. The source is read whole again, and
    # finds the record the read missed.
    source = Holding([*people("ada"), {"uid": "ß", "cn": "Eszett"}], ["ß"], folds=True)
    target = Destination(objects("ada", "SS"))
    with pytest.raises(Transient, match="'SS'"):
        await planned(job(mapping("delete", case_insensitive=True)), [(source, target)])
    assert source.held == [] and source.reads == 2


async def test_objects_truly_absent_looked_up_by_what_they_hold_are_acted_on() -> None:
    # "zed" is gone; "zedd" holds "zed" and is found too, but is another key: zed goes.
    source = Holding(people("ada", "zedd"))
    run = await planned(job(mapping("delete")), [(source, Destination(objects("ada", "zed")))])
    assert actions(run) == ["delete user zed"]
    assert source.held == [[["zed"]]]


async def test_a_key_whose_texts_are_single_characters_has_the_source_read_again() -> None:
    # Without case, "sk1" is looked up by "1" alone (s and k stand for other letters
    # too): a search that finds about every record, key after key. The source is read
    # whole instead, once, and finds the record the read missed.
    source = Holding([*people("ada"), {"uid": "SK1", "cn": "Sk"}], ["SK1"], folds=True)
    target = Destination(objects("ada", "sk1"), keys_fold=None)
    with pytest.raises(Transient, match="'sk1'"):
        await planned(job(mapping("delete")), [(source, target)])
    assert source.held == [] and source.reads == 2
