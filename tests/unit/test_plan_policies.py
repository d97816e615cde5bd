"""Attribute policies and every action, one rule per row, with awkward values and keys.

Each row plans one source object against one destination object (or none) and checks
the change; then it applies the plan and plans again: nothing may be left to do but
disables and moves (which leave the record in place).
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from core.engine import apply_to, plan, resolved
from schemas.jobs import FieldMap, ObjectMapping, Policy
from schemas.plan import Change, PlanCounts
from schemas.values import Binary, Record, Value

NFC = unicodedata.normalize("NFC", "José")
NFD = unicodedata.normalize("NFD", "José")
# Characters LDAP filters and DNs treat specially, and a NUL: values and keys are opaque.
FILTER = "*()\\"
DN = ',+"<>;=#'
NUL = "a\x00b"
AWKWARD = [FILTER, DN, NUL, NFC, "日本語", " spaced ", "=cmd|' /C calc'!A0"]


def mapping(policy: Policy, *, delimiter: str | None = None, **options: Any) -> ObjectMapping:
    fields = [FieldMap(to="uid"), FieldMap(to="f", policy=policy, delimiter=delimiter)]
    return ObjectMapping(keys=["uid"], fields=fields, **options)


def obj(value: Value | None, uid: str = "alice") -> Record:
    return {"uid": uid} if value is None else {"uid": uid, "f": value}


def update(set: Record | None = None, before: Record | None = None, **parts: Any) -> Change:
    key = parts.pop("key", "alice")
    return Change(
        action="update", key=key, match={"uid": key}, set=set or {}, before=before or {}, **parts
    )


# (id, policy, delimiter, source value, destination value, expected update or None)
# fmt: off
POLICY_CASES: list[tuple[str, Policy, str | None, Value | None, Value | None, Change | None]] = [
    ("force-overwrites", "force", None, "new", "old",
     update({"f": "new"}, {"f": "old"})),
    ("force-clears", "force", None, None, "old",
     Change(action="update", key="alice", match={"uid": "alice"}, clear=("f",),
            before={"f": "old"})),
    ("force-fills", "force", None, "new", None, update({"f": "new"})),
    ("force-replaces-list", "force", ";", ["b", "c"], ["a", "b"],
     update({"f": ["b", "c"]}, {"f": ["a", "b"]})),
    ("keep-never-overwrites", "keep", None, "new", "old", None),
    ("keep-never-clears", "keep", None, None, "old", None),
    ("keep-fills-missing", "keep", None, "new", None, update({"f": "new"})),
    ("keep-fills-empty-text", "keep", None, "new", "", update({"f": "new"})),
    ("keep-fills-empty-list", "keep", ";", ["a"], [], update({"f": ["a"]})),
    ("keep-list-kept", "keep", ";", ["x"], ["a", "b"], None),
    ("keep-binary-kept", "keep", None, Binary(b"\x01"), Binary(b"\x00"), None),
    ("merge-union-in-order", "merge", ";", ["b", "c"], ["a", "b"],
     update({"f": ["a", "b", "c"]}, {"f": ["a", "b"]})),
    ("merge-destination-order-first", "merge", ";", ["a", "b", "b"], ["c", "a"],
     update({"f": ["c", "a", "b"]}, {"f": ["c", "a"]})),
    ("merge-removes-nothing", "merge", ";", ["a"], ["a", "b"], None),
    ("merge-never-clears", "merge", ";", None, ["a", "b"], None),
    ("merge-fills-missing", "merge", ";", ["a", "b"], None, update({"f": ["a", "b"]})),
    ("merge-single-destination-value", "merge", ";", ["a", "b"], "a",
     update({"f": ["a", "b"]}, {"f": "a"})),
    ("merge-single-source-value", "merge", ";", "b", ["a"],
     update({"f": ["a", "b"]}, {"f": ["a"]})),
    ("merge-lists-without-delimiter", "merge", None, ["b"], ["a"],
     update({"f": ["a", "b"]}, {"f": ["a"]})),
    ("merge-compares-exactly", "merge", ";", ["A", NFD], ["a", NFC],
     update({"f": ["a", NFC, "A", NFD]}, {"f": ["a", NFC]})),
    ("merge-empty-items-ignored", "merge", ";", ["", "a"], ["a", ""], None),
    ("merge-single-valued-is-keep", "merge", None, "new", "old", None),
    ("merge-single-valued-fills", "merge", None, "new", None, update({"f": "new"})),
    ("merge-binary-is-keep", "merge", None, Binary(b"\x01"), Binary(b"\x00"), None),
    ("merge-awkward-values", "merge", ";", [NUL, DN, FILTER], [FILTER],
     update({"f": [FILTER, NUL, DN]}, {"f": [FILTER]})),
    ("force-awkward-value", "force", None, DN, FILTER, update({"f": DN}, {"f": FILTER})),
    ("keep-awkward-fills", "keep", None, NUL, None, update({"f": NUL})),
    ("force-unicode-normal-forms-differ", "force", None, NFD, NFC,
     update({"f": NFD}, {"f": NFC})),
]
# fmt: on


def replanned(
    source: list[Record], destination: list[Record], job: ObjectMapping, first: list[Change]
) -> list[Change]:
    after = apply_to(destination, first, job.keys, job.case_insensitive)
    return list(plan(source, after, job, ("uid", "f")).changes)


@pytest.mark.parametrize(
    ("policy", "delimiter", "new", "old", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in POLICY_CASES],
)
def test_update_policies(
    policy: Policy,
    delimiter: str | None,
    new: Value | None,
    old: Value | None,
    expected: Change | None,
) -> None:
    job = mapping(policy, delimiter=delimiter)
    source, destination = [obj(new)], [obj(old)]
    result = plan(source, destination, job, ("uid", "f"))
    assert result.changes == ([expected] if expected else [])
    assert result.counts == (PlanCounts(update=1) if expected else PlanCounts(unchanged=1))
    assert replanned(source, destination, job, result.changes) == []


@pytest.mark.parametrize("policy", ["force", "keep", "merge"])
@pytest.mark.parametrize("value", [*AWKWARD, ["a", "b"], Binary(b"\x00\xff")], ids=repr)
def test_a_create_writes_the_source_value_whatever_the_policy(policy: Policy, value: Value) -> None:
    job = mapping(policy, delimiter=";")
    result = plan([obj(value)], [], job, ("uid", "f"))
    assert result.changes == [
        Change(action="create", key="alice", match={"uid": "alice"}, set=obj(value))
    ]


@pytest.mark.parametrize("policy", ["keep", "merge"])
def test_create_only_is_never_updated_whatever_the_policy(policy: Policy) -> None:
    fields = [FieldMap(to="uid"), FieldMap(to="f", policy=policy, create_only=True)]
    job = ObjectMapping(keys=["uid"], fields=fields)
    result = plan([obj("new")], [obj(None)], job, ("uid", "f"))
    assert result.changes == []


def test_policies_are_per_field() -> None:
    fields = [
        FieldMap(to="uid"),
        FieldMap(to="mail", policy="keep"),
        FieldMap(to="cn"),
        FieldMap(to="groups", delimiter="|", policy="merge"),
    ]
    job = ObjectMapping(keys=["uid"], fields=fields)
    source: Record = {"uid": "alice", "mail": "new@x", "cn": "Alice", "groups": ["b"]}
    destination: Record = {"uid": "alice", "mail": "old@x", "cn": "A", "groups": ["a"]}
    result = plan([source], [destination], job, ("uid", "mail", "cn", "groups"))
    assert result.changes == [
        update({"cn": "Alice", "groups": ["a", "b"]}, {"cn": "A", "groups": ["a"]})
    ]


@pytest.mark.parametrize(
    ("policy", "old", "new", "multi_valued", "expected"),
    [
        pytest.param("force", "a", None, False, None, id="force-none"),
        pytest.param("keep", None, "b", False, "b", id="keep-fills"),
        pytest.param("merge", ["a"], ["a"], True, ["a"], id="merge-same-is-old"),
        pytest.param("merge", "a", "b", True, ["a", "b"], id="merge-multi-texts"),
    ],
)
def test_resolved(
    policy: Policy, old: Value | None, new: Value | None, multi_valued: bool, expected: Value | None
) -> None:
    assert resolved(policy, old, new, multi_valued) == expected


# --- every action, with awkward keys ---------------------------------------------------


def actions_job(**options: Any) -> ObjectMapping:
    return ObjectMapping(keys=["uid"], fields=[FieldMap(to="uid"), FieldMap(to="f")], **options)


@pytest.mark.parametrize("key", [*AWKWARD, "cn=a\\,b,ou=x,dc=y", "\u00e9\u0301"], ids=repr)
@pytest.mark.parametrize(
    ("options", "source", "destination", "action", "counts"),
    [
        pytest.param({}, True, False, "create", PlanCounts(create=1), id="create"),
        pytest.param(
            {"on_source_only": "skip"}, True, False, None, PlanCounts(skipped=1), id="skip-create"
        ),
        pytest.param({}, True, True, "update", PlanCounts(update=1), id="update"),
        pytest.param(
            {"on_both": "skip"}, True, True, None, PlanCounts(skipped=1), id="skip-update"
        ),
        pytest.param(
            {"on_destination_only": "delete"},
            False,
            True,
            "delete",
            PlanCounts(delete=1),
            id="delete",
        ),
        pytest.param(
            {"on_destination_only": "disable"},
            False,
            True,
            "disable",
            PlanCounts(disable=1),
            id="disable",
        ),
        pytest.param(
            {"on_destination_only": "move", "move_to": "ou=Former,dc=y"},
            False,
            True,
            "move",
            PlanCounts(move=1),
            id="move",
        ),
        pytest.param(
            {"on_destination_only": "skip"},
            False,
            True,
            None,
            PlanCounts(skipped=1),
            id="skip-absent",
        ),
    ],
)
def test_every_action_with_awkward_keys(
    key: str,
    options: dict[str, Any],
    source: bool,
    destination: bool,
    action: str | None,
    counts: PlanCounts,
) -> None:
    job = actions_job(**options)
    wanted: list[Record] = [{"uid": key, "f": f"new {key}"}] if source else []
    found: list[Record] = [{"uid": key, "f": "old"}] if destination else []
    result = plan(wanted, found, job, ("uid", "f"))
    assert result.counts == counts
    assert [c.action for c in result.changes] == ([action] if action else [])
    for change in result.changes:
        assert change.key == key and change.match == {"uid": key}
        assert change.container == (options.get("move_to") if action == "move" else None)
    again = replanned(wanted, found, job, list(result.changes))
    assert again == [c for c in result.changes if c.action in ("disable", "move")]
