"""Source keys that differ only in case, for a destination that compares keys without
case (`plan(keys_fold=True)`: LDAP's uid, AD, Entra, SCIM's userName): the records are
one object there, so a job comparing keys with case refuses them as it refuses two
records sharing a key; where the destination compares keys with case (a file), they are
two objects, and an object the source holds in another case is acted on as absent."""

from __future__ import annotations

import pytest

from core.engine import DuplicateKey, plan
from core.engine.failures import Failure
from core.engine.keys import case_clash, match_key
from core.engine.objects import ObjectType, plan_objects
from schemas.jobs import FieldMap, ObjectMapping
from schemas.plan import RecordError
from schemas.values import Record

MAPPING = ObjectMapping(
    type="user",
    keys=["uid"],
    on_destination_only="delete",
    fields=[FieldMap(to="uid"), FieldMap(to="cn")],
)
MANAGED = ("uid", "cn")
UPPER: Record = {"uid": "R.Ouazana", "cn": "Raphaël Ouazana"}
LOWER: Record = {"uid": "r.ouazana", "cn": "Rachel Ouazana"}


def test_two_records_alike_but_for_case_are_refused_naming_both() -> None:
    with pytest.raises(DuplicateKey) as refused:
        plan([LOWER, UPPER], [], MAPPING, MANAGED, keys_fold=True)
    message = str(refused.value)
    assert "'R.Ouazana' in two cases" in message
    assert "Raphaël Ouazana" in message and "Rachel Ouazana" in message
    assert "set case_insensitive = true" in message


def test_the_refusal_is_the_same_whatever_the_order_of_the_records() -> None:
    refusals = []
    for source in ([LOWER, UPPER], [UPPER, LOWER]):
        with pytest.raises(DuplicateKey) as refused:
            plan(source, [UPPER], MAPPING, MANAGED, keys_fold=True)
        refusals.append(str(refused.value))
    assert refusals[0] == refusals[1]


def test_where_keys_compare_with_case_the_records_are_two_objects() -> None:
    for keys_fold in (False, None):
        planned = plan([LOWER, UPPER], [], MAPPING, MANAGED, keys_fold=keys_fold)
        assert planned.counts.create == 2


def test_a_record_that_failed_and_one_mapped_alike_but_for_case_are_refused() -> None:
    key = match_key(LOWER, ["uid"], False)
    assert key is not None
    error = RecordError(key="r.ouazana", action="map", message="bad date")
    failed = Failure({"login": "r.ouazana"}, error, {"uid": "r.ouazana"}, key, key)
    with pytest.raises(DuplicateKey) as refused:
        plan([UPPER], [UPPER], MAPPING, MANAGED, failed=[failed], keys_fold=True)
    assert '"login":"r.ouazana"' in str(refused.value)


def test_a_leaver_alike_but_for_case_is_refused_too() -> None:
    leaver: Record = {**LOWER, "@leaver": "yes"}
    with pytest.raises(DuplicateKey):
        plan([UPPER, leaver], [], MAPPING, MANAGED, keys_fold=True)


def test_a_job_of_several_types_refuses_them_in_the_type_that_has_them() -> None:
    groups = ObjectMapping(type="group", keys=["cn"], fields=[FieldMap(to="cn")])
    types = [
        ObjectType(groups, [{"cn": "Staff"}, {"cn": "staff"}], [], ("cn",), keys_fold=False),
        ObjectType(MAPPING, [UPPER, LOWER], [], MANAGED, keys_fold=True),
    ]
    with pytest.raises(DuplicateKey) as refused:
        plan_objects(types)
    assert "'R.Ouazana' in two cases" in str(refused.value)


def test_a_run_that_sees_some_records_leaves_out_a_create_an_object_holds_in_another_case() -> None:
    planned = plan([LOWER], [UPPER], MAPPING, MANAGED, act_on_absence=False, keys_fold=True)
    assert planned.counts.create == 0 and planned.counts.skipped == 1
    assert not planned.changes
    assert planned.warnings == [
        "source record 'r.ouazana' left out: the destination holds its key in another case "
        "('R.Ouazana') and compares keys without case; a run of the whole source decides "
        "(set case_insensitive = true if they are one object)"
    ]


def test_where_keys_fold_an_object_in_another_case_is_left_alone_with_the_right_advice() -> None:
    planned = plan([LOWER], [UPPER], MAPPING, MANAGED, keys_fold=True)
    assert [change.action for change in planned.changes] == ["create"]
    assert planned.warnings == [
        "destination object 'R.Ouazana' left alone: the source holds its key in another "
        "case ('r.ouazana'); the destination compares keys without case: set "
        "case_insensitive = true"
    ]


def test_where_keys_compare_with_case_an_object_in_another_case_is_absent() -> None:
    planned = plan([LOWER], [UPPER], MAPPING, MANAGED, keys_fold=False)
    assert sorted(change.action for change in planned.changes) == ["create", "delete"]
    assert not planned.warnings
    assert planned.counts.skipped == 0


def test_keys_alike_but_for_case_are_found_in_any_script_and_several_fields() -> None:
    assert case_clash(["ann", "bob", "ANN", "Ann"], 1) == ("ANN", "Ann")
    assert case_clash(["straße", "STRASSE"], 1) == ("STRASSE", "straße")
    assert case_clash(["ann", "bob"], 1) is None
    first = match_key({"d": "Sales", "u": "ann"}, ["d", "u"], False)
    second = match_key({"d": "sales", "u": "ANN"}, ["d", "u"], False)
    assert first is not None and second is not None
    assert case_clash([first, second], 2) is not None
