"""The lean first pass gives the very plan `plan()` gives over whole records."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.engine import plan
from core.engine.digests import DigestIndex
from core.engine.plan import Plan
from core.errors import BadInput
from schemas.jobs import FieldMap, ObjectMapping
from schemas.values import Record

MAPPING = ObjectMapping(
    keys=["uid"],
    on_destination_only="delete",
    fields=[
        FieldMap(to="uid"),
        FieldMap(to="mail"),
        FieldMap(to="phone", policy="keep"),
        FieldMap(to="groups", delimiter=";", policy="merge"),
        FieldMap(to="badge", create_only=True, unique=True),  # noted on the first read
    ],
)
MANAGED = ("uid", "mail", "phone", "groups", "badge")


def lean(source: list[Record], destination: list[Record], absent: bool = True) -> Plan:
    index = DigestIndex(MAPPING, MANAGED)
    for record in destination:
        index.add_destination(record)
    kept = [record for record in source if index.keep_source(record)]
    needed = [r for r in destination if index.destination_needed(r, absent=absent)]
    the_plan = plan(
        kept,
        needed,
        MAPPING,
        MANAGED,
        act_on_absence=absent,
        taken=index.taken,
        keyed_elsewhere=index.unchanged,
        other_case=index.other_cases() if absent else None,
    )
    the_plan.counts.unchanged += index.unchanged
    return the_plan


UNCHANGED: Record = {"uid": "u1", "mail": "", "phone": "", "groups": [], "badge": ""}
values = st.sampled_from(["", "a", "b", " a"])
records = st.builds(
    lambda uid, mail, phone, groups, badge: {
        "uid": uid,
        "mail": mail,
        "phone": phone,
        "groups": groups,
        "badge": badge,
    },
    uid=st.sampled_from(["u1", "u2", "u3", "u4", "u5", "U1", ""]),
    mail=values,
    phone=values,
    groups=st.lists(st.sampled_from(["x", "y", "z"]), max_size=2),
    badge=values,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(records, max_size=6), st.lists(records, max_size=6), st.booleans())
@example([UNCHANGED], [UNCHANGED, {**UNCHANGED, "uid": "U1"}], True)  # U1: u1 in another case
def test_the_lean_plan_is_the_plan(
    source: list[Record], destination: list[Record], absent: bool
) -> None:
    try:
        expected = plan(source, destination, MAPPING, MANAGED, act_on_absence=absent)
    except BadInput as refused:  # duplicate keys, or no key at all: refused the same way
        with pytest.raises(type(refused)):
            lean(source, destination, absent)
        return
    got = lean(source, destination, absent)
    assert got.changes == expected.changes and got.hash == expected.hash
    assert got.counts == expected.counts
