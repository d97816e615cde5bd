"""A first run's batch of plain creates is prepared a field at a time (sql/batches.py
`Batcher._creates`): the same groups, rows and outcomes as change by change."""

from __future__ import annotations

import pytest

from schemas.plan import Change
from schemas.values import Binary, Value
from services.providers.base import Layout, Outcome
from services.providers.mysql import values as mysql
from services.providers.postgresql import values as postgresql
from services.providers.sql.batches import Batcher, Op

FIELDS = ("id", "name", "groups", "photo", "age")
LAYOUT = Layout(keys=("id",), fields=FIELDS, multi_valued={"groups": "|"})
PG = {
    "id": postgresql.Column("id", "text", "text"),
    "name": postgresql.Column("name", "varchar", "character varying"),
    "groups": postgresql.Column("groups", "text", "text"),
    "photo": postgresql.Column("photo", "bytea", "bytea"),
    "age": postgresql.Column("age", "int4", "integer"),
}
MY = {
    "id": mysql.Column("id", "varchar", "varchar(64)"),
    "name": mysql.Column("name", "text", "text"),
    "groups": mysql.Column("groups", "text", "text"),
    "photo": mysql.Column("photo", "blob", "blob"),
    "age": mysql.Column("age", "int", "int"),
}


def create(key: str, **fields: Value) -> Change:
    return Change(action="create", key=key, match={"id": key}, set={"id": key, **fields})


def batchers() -> list[Batcher[postgresql.Column] | Batcher[mysql.Column]]:
    return [
        Batcher("postgresql", LAYOUT, PG, postgresql.param_of, postgresql.canonical_value),
        Batcher("mysql", LAYOUT, MY, mysql.param_of, mysql.canonical_value),
    ]


def one_by_one(
    batcher: Batcher[postgresql.Column] | Batcher[mysql.Column], changes: list[Change]
) -> tuple[list[list[Op]], list[Outcome]]:
    """The groups as `_prepare` makes them, change by change."""
    outcomes = [Outcome()] * len(changes)
    groups: list[list[Op]] = []
    for segment in batcher._segments(changes, outcomes):
        shapes: dict[object, list[Op]] = {}
        for op in segment:
            shapes.setdefault(op.shape, []).append(op)
        groups.extend(shapes.values())
    return groups, outcomes


BATCHES = {
    "text": [create(f"u{i}", name=f"N{i}", groups=["a", "b"]) for i in range(20)],
    "empty values": [
        create("u1", name="", groups=["a", "", "b"]),
        create("u2", name="B", groups=[""]),
    ],
    "typed": [
        create("u1", name="A", groups=["x"], photo=Binary(b"\x00\x01"), age="042"),
        create("u2", name="B", groups=["y"], photo=Binary(b""), age="7"),
    ],
    "a list in a text field": [create("u1", name=["A", "B"]), create("u2", name=["C"])],
    "text in a list field": [create("u1", groups="a|b"), create("u2", groups="c")],
    "create only": [
        Change(
            action="create", key=k, match={"id": k}, set={"id": k, "name": k}, create_only=("name",)
        )
        for k in ("u1", "u2")
    ],
}


@pytest.mark.parametrize("name", BATCHES)
def test_plain_creates_a_field_at_a_time_are_as_one_by_one(name: str) -> None:
    changes = BATCHES[name]
    for batcher in batchers():
        fast = batcher._creates(changes)
        assert fast is not None, name
        groups, outcomes = one_by_one(batcher, changes)
        assert outcomes == [Outcome()] * len(changes)
        assert [
            [(op.index, op.key, op.row, op.names, op.shape) for op in group] for group in groups
        ] == [[(op.index, op.key, op.row, op.names, op.shape) for op in fast]]
        assert batcher.groups(changes, [Outcome()] * len(changes)) == [fast]


@pytest.mark.parametrize(
    "changes",
    [
        [create("u1", name="A"), create("u1", name="B")],  # a key twice: in order
        [create("u1", name="A"), create("", name="B")],  # an empty key: its own error
        [create("u1", name="A"), create("u2", name="B", groups=["x"])],  # two shapes
        [
            create("u1", name="A"),
            Change(action="update", key="u2", match={"id": "u2"}, set={"name": "B"}),
        ],
        [Change(action="create", key="u1", match={"id": "u1"}, set={"name": "A"}, clear=("age",))],
        [Change(action="create", key="u1", match={"id": ["u1"]}, set={"name": "A"})],
    ],
)
def test_other_batches_go_change_by_change(changes: list[Change]) -> None:
    for batcher in batchers():
        assert batcher._creates(changes) is None
