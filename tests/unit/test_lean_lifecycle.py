"""The low-memory planner (runner/planning/low_memory.py `plan_lean`) gives the very plan
`plan()` gives over whole records for a job with a lifecycle: objects absent before
(disabled or moved away, some long enough ago to be deleted), back in the source
(restored), leavers (new ones created and acted on at once), records that fail a
transformation (their objects held), keys in another case — whichever way absence is
acted on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.engine import plan
from core.engine.lifecycle import Lifecycle
from core.engine.plan import Plan
from core.errors import BadInput
from schemas.jobs import ObjectMapping
from schemas.values import Record
from services.runner.planning import spill
from services.runner.planning.low_memory import plan_lean

from .test_spilled_plans import Destination, batches, mapper

NOW = datetime(2026, 12, 6, tzinfo=UTC)
KEYS = [f"u{n}" for n in range(8)] + ["U1", "U2"]


def mapping(absence: str, leaving: str) -> ObjectMapping:
    return msgspec.convert(
        {
            "keys": ["uid"],
            "on_destination_only": absence,
            "move_to": "ou=gone",
            "restore": True,
            "delete_after": "30d",
            "fields": [
                {"to": "uid"},
                {"to": "mail"},
                {"to": "dept", "transform": {"map": {"a": "A", "b": "B"}}},  # "x" fails
            ],
            "leavers": {
                "when": {"field": "status", "equals": "gone"},
                "action": leaving,
                "move_to": "ou=left",
                "new": "create",
            },
        },
        ObjectMapping,
    )


sources = st.builds(
    lambda uid, mail, dept, status: {"uid": uid, "mail": mail, "dept": dept, "status": status},
    uid=st.sampled_from(KEYS),
    mail=st.sampled_from(["", "a", "b"]),
    dept=st.sampled_from(["a", "a", "b", "x"]),
    status=st.sampled_from(["", "", "gone"]),
)
destinations = st.builds(
    lambda uid, mail, dept: {"uid": uid, "mail": mail, "dept": dept},
    uid=st.sampled_from(KEYS),
    mail=st.sampled_from(["", "a", "b"]),
    dept=st.sampled_from(["A", "B"]),
)
absences = st.dictionaries(
    st.sampled_from(KEYS), st.sampled_from([NOW - timedelta(days=3), NOW - timedelta(days=40)])
)


def lean(
    source: list[Record], destination: list[Record], kind: ObjectMapping, lifecycle: Lifecycle
) -> Plan:
    found = asyncio.run(
        plan_lean(
            kind,
            Destination(destination),  # type: ignore[arg-type]
            batches(source),
            mapper(kind),
            act_on_absence=lambda: True,
            lifecycle=lifecycle,
        )
    )
    return found[0]


def whole(
    source: list[Record], destination: list[Record], kind: ObjectMapping, lifecycle: Lifecycle
) -> Plan:
    mapped = mapper(kind)
    records = mapped.map([dict(r) for r in source])
    managed = tuple(field.to for field in kind.fields)
    return plan(records, destination, kind, managed, lifecycle=lifecycle, failed=mapped.failures)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(sources, max_size=10),
    st.lists(destinations, max_size=8, unique_by=lambda r: r["uid"]),
    absences,
    st.sampled_from(["disable", "move", "delete"]),
    st.sampled_from(["disable", "move", "delete"]),
    st.sampled_from([1, 50_000]),
)
def test_a_lean_plan_with_a_lifecycle_is_the_plan(
    source: list[Record],
    destination: list[Record],
    absent: dict[str, datetime],
    absence: str,
    leaving: str,
    run_size: int,
) -> None:
    kind = mapping(absence, leaving)
    # Some kept deleted at the end of their lifecycle (a job creating new leavers).
    deleted = frozenset(KEYS[::3]) - absent.keys()
    lifecycle = Lifecycle(
        absent_since=absent, now=NOW, delete_after=timedelta(days=30), deleted=deleted
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(spill, "RUN_SIZE", run_size)  # 1: every create goes to disk
        try:
            wanted = whole(source, destination, kind, lifecycle)
        except BadInput as refused:  # a key twice: refused the same way
            with pytest.raises(type(refused)):
                lean(source, destination, kind, lifecycle)
            return
        got = lean(source, destination, kind, lifecycle)
    assert list(got.changes) == list(wanted.changes)
    assert got.hash == wanted.hash
    assert got.counts == wanted.counts
    assert got.returned == wanted.returned
    assert sorted(got.warnings) == sorted(wanted.warnings)
