"""plan(), match_key() and apply_to(), one rule per row."""

from __future__ import annotations

import copy
import unicodedata
from typing import Any

import msgspec
import pytest

from core.engine import DuplicateKey, apply_to, match_key, plan
from core.engine.failures import Failure
from core.errors import BadInput
from schemas.jobs import FieldMap, ObjectMapping
from schemas.plan import Action, Change, PlanCounts, RecordError
from schemas.values import Binary, Record

NFC = unicodedata.normalize("NFC", "José")
NFD = unicodedata.normalize("NFD", "José")
assert NFC != NFD

FIELDS = [FieldMap(to="uid"), FieldMap(to="mail"), FieldMap(to="groups", delimiter=";")]
MANAGED = ("uid", "mail", "groups")
WITH_PASSWORD = [*FIELDS, FieldMap(to="password", create_only=True)]
ALICE: Record = {"uid": "alice", "mail": "a@example.org"}


def job(**options: Any) -> ObjectMapping:
    return ObjectMapping(**{"keys": ["uid"], "fields": FIELDS, **options})


def change(action: Action, key: str, **parts: Any) -> Change:
    return Change(action=action, key=key, match=parts.pop("match", {"uid": key}), **parts)


def case(
    name: str,
    source: list[Record],
    destination: list[Record],
    *,
    changes: list[Change] | None = None,
    counts: PlanCounts,
    mapping: ObjectMapping | None = None,
    managed: tuple[str, ...] = MANAGED,
    act_on_absence: bool = True,
    warnings: list[str] | None = None,
) -> Any:
    """One row: planning `source` against `destination` gives these changes, counts and
    warnings (each expected warning is a fragment of the actual one, in order)."""
    expected = (changes or [], counts, warnings or [])
    return pytest.param(
        mapping or job(), managed, source, destination, act_on_absence, expected, id=name
    )


C = PlanCounts

# fmt: off
CASES = [
    case("source-only-create", [ALICE], [],
         changes=[change("create", "alice", set=ALICE)], counts=C(create=1)),
    case("source-only-skip", [ALICE], [],
         mapping=job(on_source_only="skip"), counts=C(skipped=1)),
    case("create-writes-key-even-if-unmanaged", [ALICE], [], managed=("mail",),
         changes=[change("create", "alice", set=ALICE)], counts=C(create=1)),
    case("both-update-set", [ALICE], [{"uid": "alice", "mail": "old@example.org"}],
         changes=[change("update", "alice", set={"mail": "a@example.org"},
                         before={"mail": "old@example.org"})],
         counts=C(update=1)),
    case("both-update-clear", [{"uid": "alice"}], [ALICE],
         changes=[change("update", "alice", clear=("mail",), before={"mail": "a@example.org"})],
         counts=C(update=1)),
    case("both-update-set-where-destination-has-none",
         [{"uid": "alice", "groups": ["a", "b"]}], [{"uid": "alice"}],
         changes=[change("update", "alice", set={"groups": ["a", "b"]})], counts=C(update=1)),
    case("both-unchanged", [ALICE], [dict(ALICE)], counts=C(unchanged=1)),
    case("unmanaged-and-empty-destination-fields-ignored",
         [ALICE], [{**ALICE, "phone": "123", "groups": ""}], counts=C(unchanged=1)),
    case("both-skip", [ALICE], [{"uid": "alice"}],
         mapping=job(on_both="skip"), counts=C(skipped=1)),
    case("multi-valued-changed",
         [{"uid": "alice", "groups": ["a", "b"]}], [{"uid": "alice", "groups": ["a"]}],
         changes=[change("update", "alice", set={"groups": ["a", "b"]},
                         before={"groups": ["a"]})],
         counts=C(update=1)),
    case("multi-valued-equal-after-normalize",
         [{"uid": "alice", "groups": ["a", "b"]}], [{"uid": "alice", "groups": ["a", "", "b"]}],
         counts=C(unchanged=1)),
    case("create-only-ignored-on-update",
         [{"uid": "alice", "password": "new"}], [{"uid": "alice", "password": "old"}],
         mapping=job(fields=WITH_PASSWORD), managed=(*MANAGED, "password"),
         counts=C(unchanged=1)),
    case("create-only-written-on-create", [{"uid": "alice", "password": "new"}], [],
         mapping=job(fields=WITH_PASSWORD), managed=(*MANAGED, "password"),
         changes=[change("create", "alice", set={"uid": "alice", "password": "new"})],
         counts=C(create=1)),
    case("destination-only-delete", [], [ALICE], mapping=job(on_destination_only="delete"),
         changes=[change("delete", "alice")], counts=C(delete=1)),
    case("destination-only-disable", [], [ALICE], mapping=job(on_destination_only="disable"),
         changes=[change("disable", "alice")], counts=C(disable=1)),
    case("destination-only-move", [], [ALICE], mapping=job(on_destination_only="move"),
         changes=[change("move", "alice")], counts=C(move=1)),
    case("destination-only-skip", [], [ALICE], mapping=job(on_destination_only="skip"),
         counts=C(skipped=1)),
    case("no-absence-no-delete-no-count", [], [ALICE], act_on_absence=False,
         mapping=job(on_destination_only="delete"), counts=C()),
    case("no-absence-no-skip-count", [], [ALICE], act_on_absence=False,
         mapping=job(on_destination_only="skip"), counts=C()),
    case("no-absence-still-creates-and-updates",
         [ALICE, {"uid": "bob"}], [{"uid": "alice"}, {"uid": "carl"}], act_on_absence=False,
         mapping=job(on_destination_only="delete"),
         changes=[change("create", "bob", set={"uid": "bob"}),
                  change("update", "alice", set={"mail": "a@example.org"})],
         counts=C(create=1, update=1)),
    case("unicode-nfd-key-matches-nfc",
         [{"uid": NFD, "mail": "x"}], [{"uid": NFC, "mail": "x"}], managed=("mail",),
         counts=C(unchanged=1)),
    case("spaces-around-key-ignored",
         [{"uid": "  alice ", "mail": "x"}], [{"uid": "alice", "mail": "x"}], managed=("mail",),
         counts=C(unchanged=1)),
    case("case-insensitive-match-updates-spelling", [{"uid": "Alice"}], [{"uid": "alice"}],
         mapping=job(case_insensitive=True),
         changes=[change("update", "alice", set={"uid": "Alice"}, before={"uid": "alice"})],
         counts=C(update=1)),
    case("case-insensitive-match", [{"uid": "ALICE"}], [{"uid": "alice"}],
         mapping=job(case_insensitive=True), managed=("mail",), counts=C(unchanged=1)),
    case("case-sensitive-no-match", [{"uid": "Alice"}], [{"uid": "alice"}],
         mapping=job(on_destination_only="delete"),
         changes=[change("create", "Alice", set={"uid": "Alice"})],
         counts=C(create=1, skipped=1),
         warnings=["destination object 'alice' left alone: the source holds its key in "
                   "another case ('Alice'); set case_insensitive = true if the destination "
                   "compares keys without case"]),
    case("case-sensitive-no-match-disable", [{"uid": "Alice"}], [{"uid": "alice"}],
         mapping=job(on_destination_only="disable"),
         changes=[change("create", "Alice", set={"uid": "Alice"})],
         counts=C(create=1, skipped=1), warnings=["'alice' left alone"]),
    case("case-sensitive-other-absent-deleted", [{"uid": "Alice"}], [{"uid": "bob"}],
         mapping=job(on_destination_only="delete"),
         changes=[change("create", "Alice", set={"uid": "Alice"}), change("delete", "bob")],
         counts=C(create=1, delete=1)),
    case("case-sensitive-leaver-no-match", [{"uid": "Alice", "@leaver": "yes"}],
         [{"uid": "alice"}], mapping=job(on_destination_only="delete"),
         counts=C(skipped=2), warnings=["'alice' left alone"]),
    case("two-key-fields-other-case",
         [{"dept": "sales", "uid": "alice"}], [{"dept": "Sales", "uid": "alice"}],
         mapping=job(keys=["dept", "uid"], fields=[], on_destination_only="delete"),
         managed=("dept", "uid"),
         changes=[change("create", "sales / alice", match={"dept": "sales", "uid": "alice"},
                         set={"dept": "sales", "uid": "alice"})],
         counts=C(create=1, skipped=1),
         warnings=["'Sales / alice' left alone: the source holds its key in another case "
                   "('sales / alice')"]),
    case("empty-source-keys-skipped", [{"uid": "  ", "mail": "x"}, {"mail": "y"}], [],
         counts=C(skipped=2), warnings=["source record skipped, empty key (uid)"] * 2),
    # A record with values but no key could be any object: none is taken for absent.
    case("empty-source-key-leaves-absent-objects-alone",
         [{"uid": "alice", "mail": "a"}, {"mail": "b"}],
         [{"uid": "alice", "mail": "a"}, {"uid": "bob", "mail": "b"}],
         mapping=job(on_destination_only="delete"),
         counts=C(unchanged=1, skipped=2),
         warnings=["1 source record has values but an empty key (uid): it could be the "
                   "1 destination object missing from the source, so none is deleted "
                   "in this run",
                   "source record skipped, empty key (uid)"]),
    case("blank-source-row-is-no-record", [{"uid": "alice"}, {"uid": "", "mail": " "}],
         [{"uid": "alice"}, {"uid": "bob"}], mapping=job(on_destination_only="delete"),
         changes=[change("delete", "bob")], counts=C(delete=1, unchanged=1, skipped=1),
         warnings=["source record skipped, empty key (uid)"]),
    case("empty-destination-key-skipped", [], [{"uid": "", "mail": "x"}],
         mapping=job(on_destination_only="delete"),
         counts=C(skipped=1), warnings=["destination record skipped, empty key (uid)"]),
    case("multi-valued-key-skipped", [{"uid": ["a", "b"]}], [],
         counts=C(skipped=1), warnings=["source record skipped, multi-valued key 'uid'"]),
    case("binary-key-skipped", [{"uid": Binary(b"\x00")}], [],
         counts=C(skipped=1), warnings=["source record skipped, binary key 'uid'"]),
    case("destination-duplicates-left-alone",
         [ALICE], [{"uid": "alice", "mail": "1"}, {"uid": " alice"}, {"uid": "alice"}],
         mapping=job(on_destination_only="delete"),
         counts=C(skipped=1), warnings=["destination records share the key 'alice'"] * 2),
    case("destination-duplicates-not-deleted", [], [{"uid": "bob"}, {"uid": "Bob"}],
         mapping=job(case_insensitive=True, on_destination_only="delete"),
         counts=C(skipped=1), warnings=["destination records share the key 'bob'"]),
    case("destination-duplicates-out-of-scope", [], [{"uid": "bob"}, {"uid": "bob"}],
         mapping=job(on_destination_only="delete"), act_on_absence=False,
         counts=C(), warnings=["destination records share the key 'bob'"]),
    case("two-key-fields",
         [{"dept": "sales", "uid": "alice", "mail": "x"}], [{"dept": "Sales", "uid": "alice"}],
         mapping=job(keys=["dept", "uid"], fields=[]), managed=("dept", "uid", "mail"),
         changes=[change("create", "sales / alice", match={"dept": "sales", "uid": "alice"},
                         set={"dept": "sales", "uid": "alice", "mail": "x"})],
         counts=C(create=1, skipped=1)),
]
# fmt: on


@pytest.mark.parametrize(
    ("mapping", "managed", "source", "destination", "act_on_absence", "expected"), CASES
)
def test_plan(
    mapping: ObjectMapping,
    managed: tuple[str, ...],
    source: list[Record],
    destination: list[Record],
    act_on_absence: bool,
    expected: tuple[list[Change], PlanCounts, list[str]],
) -> None:
    changes, counts, warnings = expected
    result = plan(source, destination, mapping, managed, act_on_absence=act_on_absence)
    assert result.changes == changes
    assert result.counts == counts
    assert len(result.warnings) == len(warnings), result.warnings
    for text, fragment in zip(result.warnings, warnings, strict=True):
        assert fragment in text


def test_duplicate_source_keys_name_the_key_and_both_records() -> None:
    first: Record = {"uid": "alice", "mail": "first@example.org"}
    second: Record = {"uid": " Alice", "mail": "second@example.org"}
    with pytest.raises(DuplicateKey) as raised:
        plan([first, second], [], job(case_insensitive=True), MANAGED)
    assert isinstance(raised.value, BadInput)
    message = str(raised.value)
    assert "' Alice'" in message
    assert "first@example.org" in message
    assert "second@example.org" in message


def test_a_mapping_without_keys_is_bad_input() -> None:
    with pytest.raises(BadInput, match="at least one key"):
        plan([], [], job(keys=[]), MANAGED)


def test_changes_come_in_phases_sorted_by_key() -> None:
    mapping = job(on_destination_only="delete")
    source: list[Record] = [{"uid": "zoe"}, {"uid": "bob", "mail": "new"}, {"uid": "amy"}]
    destination: list[Record] = [{"uid": "carl"}, {"uid": "bob"}, {"uid": "ann"}]
    result = plan(source, destination, mapping, MANAGED)
    assert [(c.action, c.key) for c in result.changes] == [
        ("create", "amy"),
        ("create", "zoe"),
        ("update", "bob"),
        ("delete", "ann"),
        ("delete", "carl"),
    ]
    shuffled = plan(source[::-1], destination[::-1], mapping, MANAGED)
    assert shuffled.changes == result.changes
    assert shuffled.hash == result.hash


def test_hash_changes_with_any_change() -> None:
    base = plan([ALICE], [], job(), MANAGED)
    other = plan([{**ALICE, "mail": "b@example.org"}], [], job(), MANAGED)
    assert len(base.hash) == 64
    assert base.hash == plan([dict(reversed(ALICE.items()))], [], job(), MANAGED).hash
    assert base.hash != other.hash
    assert plan([], [], job(), MANAGED).hash != base.hash


def test_inputs_are_not_mutated() -> None:
    source: list[Record] = [{"uid": "alice", "groups": ["a", ""]}, {"uid": ""}]
    destination: list[Record] = [{"uid": "alice", "groups": ["b"], "mail": ""}, {"uid": "x"}]
    saved = copy.deepcopy((source, destination))
    result = plan(source, destination, job(on_destination_only="delete"), MANAGED)
    apply_to(destination, result.changes, ["uid"], False)
    assert (source, destination) == saved


def test_warnings_are_capped() -> None:
    result = plan([{"mail": str(n)} for n in range(150)], [], job(), MANAGED)
    assert result.counts.skipped == 150
    assert len(result.warnings) == 101
    # The 50 not kept are like those kept: said so, to be counted with them.
    assert result.warnings[-1] == "... and 50 more like: source record skipped, empty key (uid)"


def test_plan_is_serializable() -> None:
    result = plan([ALICE], [], job(), MANAGED)
    assert msgspec.json.decode(msgspec.json.encode(result), type=type(result)) == result


@pytest.mark.parametrize(
    ("record", "keys", "case_insensitive", "expected"),
    [
        pytest.param({"uid": "alice"}, ["uid"], False, "alice", id="plain"),
        pytest.param({"uid": "  alice\t"}, ["uid"], False, "alice", id="stripped"),
        pytest.param({"uid": NFD}, ["uid"], False, NFC, id="nfc"),
        pytest.param({"uid": "ALICE"}, ["uid"], True, "alice", id="casefolded"),
        pytest.param({"uid": "Straße"}, ["uid"], True, "strasse", id="casefold-not-lower"),
        pytest.param({"uid": "ALICE"}, ["uid"], False, "ALICE", id="case-kept"),
        pytest.param({"uid": ""}, ["uid"], False, None, id="empty"),
        pytest.param({"uid": "   "}, ["uid"], False, None, id="blank"),
        pytest.param({}, ["uid"], False, None, id="missing"),
        pytest.param({"uid": ["a"]}, ["uid"], False, None, id="list"),
        pytest.param({"uid": Binary(b"a")}, ["uid"], False, None, id="binary"),
        pytest.param({"a": "x", "b": ""}, ["a", "b"], False, None, id="one-of-two-empty"),
    ],
)
def test_match_key(
    record: Record, keys: list[str], case_insensitive: bool, expected: str | None
) -> None:
    assert match_key(record, keys, case_insensitive) == expected


def test_match_key_of_two_fields_never_collides() -> None:
    one = match_key({"a": "x / y", "b": "z"}, ["a", "b"], False)
    other = match_key({"a": "x", "b": "y / z"}, ["a", "b"], False)
    assert one is not None
    assert other is not None
    assert one != other


# (destination, changes, expected end state)
APPLY_CASES = [
    pytest.param(
        [],
        [change("create", "alice", set=ALICE)],
        [ALICE],
        id="create-if-absent",
    ),
    pytest.param(
        [{"uid": "Alice", "cn": "A"}],
        [change("create", "alice", set=ALICE)],
        [{"uid": "alice", "cn": "A", "mail": "a@example.org"}],
        id="create-when-present-sets",
    ),
    pytest.param(
        [{"uid": "alice", "mail": "m", "cn": "A"}],
        [change("update", "alice", set={"cn": "B"}, clear=("mail",))],
        [{"uid": "alice", "cn": "B"}],
        id="update-sets-and-clears",
    ),
    pytest.param(
        [{"uid": "alice"}, {"uid": "bob"}],
        [change("delete", "alice")],
        [{"uid": "bob"}],
        id="delete",
    ),
    pytest.param([], [change("delete", "alice")], [], id="delete-if-present"),
    pytest.param(
        [{"uid": "alice"}],
        [change("disable", "alice"), change("move", "alice")],
        [{"uid": "alice"}],
        id="disable-and-move-leave-the-record",
    ),
    pytest.param(
        [{"uid": "bob"}],
        [change("update", "alice", set={"cn": "A"})],
        [{"uid": "bob"}],
        id="update-of-absent-object-does-nothing",
    ),
    pytest.param(
        [{"uid": "alice"}],
        [change("delete", "alice"), change("create", "alice", set=ALICE)],
        [ALICE],
        id="delete-then-create",
    ),
]


@pytest.mark.parametrize(("destination", "changes", "expected"), APPLY_CASES)
def test_apply_to(destination: list[Record], changes: list[Change], expected: list[Record]) -> None:
    assert apply_to(destination, changes, ["uid"], True) == expected


def test_a_source_none_of_whose_records_has_a_key_is_refused_before_anything_looks_absent() -> None:
    keyless: list[Record] = [{"mail": "a@example.org"}, {"uid": " ", "mail": "b@example.org"}]
    with pytest.raises(BadInput, match=r"no source record has a value in the key field \(uid\)"):
        plan(keyless, [ALICE], job(on_destination_only="delete"), MANAGED)
    # Nothing would look absent: planned as before, each keyless record reported.
    assert plan(keyless, [], job(on_destination_only="delete"), MANAGED).counts.skipped == 2
    assert plan(keyless, [ALICE], job(), MANAGED).counts.skipped == 3  # on_destination_only skip


def test_a_source_record_whose_key_cannot_be_read_leaves_every_absent_object_alone() -> None:
    source: list[Record] = [{"uid": ["bob", "robert"]}, {"uid": "carol"}]
    result = plan(source, [ALICE, {"uid": "carol"}], job(on_destination_only="delete"), MANAGED)
    assert [c.action for c in result.changes] == []
    assert result.counts.skipped == 2  # the unreadable record, and alice left alone
    assert (
        "the 1 destination object missing from the source, so none is deleted" in result.warnings[0]
    )


def test_many_records_with_an_empty_key_still_say_why_no_absent_object_is_deleted() -> None:
    # 150 rows whose key became NULL: far more warnings than a plan keeps. The one that
    # says why the absent objects are left alone, and what to fix, comes first.
    keyless: list[Record] = [{"mail": f"m{n}@example.org"} for n in range(150)]
    source = [ALICE, *keyless]
    destination: list[Record] = [ALICE, {"uid": "bob"}, {"uid": "carol"}]
    result = plan(source, destination, job(on_destination_only="disable"), MANAGED)
    assert result.changes == []
    assert result.warnings[0] == (
        "150 source records have values but an empty key (uid): they could be the 2 "
        "destination objects missing from the source, so none is disabled in this run; "
        "give each record a key in the source, or leave such records out of its scope: "
        'where = { field = "uid", empty = false }'
    )
    assert result.warnings[-1] == "... and 50 more like: source record skipped, empty key (uid)"


def failure(record: Record, why: str, uid: str) -> Failure:
    """A source record that failed, whose key mapped to `uid`."""
    error = RecordError(key=uid, action="map", message=why)
    return Failure(record, error, {"uid": uid}, uid, uid)


def test_a_key_held_by_a_failed_record_and_by_one_mapped_is_refused() -> None:
    # The object would be both left as it is (its record failed) and updated from the
    # other record: the source holds the key twice.
    failed = [failure({"login": "alice", "dept": "?"}, "dept: no entry", "alice")]
    with pytest.raises(DuplicateKey) as refused:
        plan([{"uid": "alice", "cn": "Alice"}], [ALICE], job(), MANAGED, failed=failed)
    assert str(refused.value) == (
        """two source records have the key 'alice': {"cn":"Alice","uid":"alice"} and """
        """{"dept":"?","login":"alice"} (which failed: dept: no entry); make the key unique """
        "in the source (or choose other key fields)"
    )


def test_a_key_held_by_two_failed_records_is_refused_naming_both() -> None:
    # Both records of alice failed: the source still holds her key twice, refused as
    # when either maps — the object is neither planned nor taken for absent.
    failed = [
        failure({"login": "alice", "dept": "?"}, "dept: no entry", "alice"),
        failure({"login": "bob"}, "dept: no entry", "bob"),
        failure({"login": "alice", "dept": "!"}, "dept: no such entry", "alice"),
    ]
    with pytest.raises(DuplicateKey) as refused:
        plan([], [ALICE], job(on_destination_only="delete"), MANAGED, failed=failed)
    assert str(refused.value) == (
        """two source records have the key 'alice': {"dept":"?","login":"alice"} (which """
        """failed: dept: no entry) and {"dept":"!","login":"alice"} (which failed: dept: no """
        "such entry); make the key unique in the source (or choose other key fields)"
    )


def test_held_objects_are_never_taken_for_absent() -> None:
    mapping = job(on_destination_only="delete")
    failed = [failure({"login": "alice"}, "dept: no entry", "alice")]
    result = plan([], [ALICE, {"uid": "bob"}], mapping, MANAGED, failed=failed)
    assert [(c.action, c.key) for c in result.changes] == [("delete", "bob")]
