"""A first run's batch of plain creates is prepared a field at a time (sql/batches.py
`Batcher._creates`): the same groups, rows and outcomes as change by change."""

from __future__ import annotations

import pytest

from schemas.plan import Change
from schemas.values import Binary, Value
from schemas.work import Creates
from services.providers.base import Layout, Outcome
from services.providers.mysql import values as mysql
from services.providers.mysql.statements import Statements as MyStatements
from services.providers.postgresql import values as postgresql
from services.providers.postgresql.statements import Statements as PgStatements
from services.providers.sql.batches import Batcher, Op, Shape
from services.providers.sql.statements import SetStatements

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


def as_columns(changes: list[Change]) -> Creates:
    """Plain creates as the planner sends them, a column per field."""
    fields = tuple(changes[0].set)
    return Creates(
        key_field="id",
        fields=fields,
        columns=[[change.set[name] for change in changes] for name in fields],
    )


def statements(
    batcher: Batcher[postgresql.Column] | Batcher[mysql.Column], shape: Shape
) -> SetStatements:
    if batcher.tag == "postgresql":
        return PgStatements.of("t", PG, shape, True)
    return MyStatements.of("t", MY, shape, 0, True)


@pytest.mark.parametrize("name", [name for name in BATCHES if name != "create only"])
def test_plain_creates_sent_as_columns_are_the_rows_of_their_changes(name: str) -> None:
    """The rows of creates sent as columns, made with no change, are those their changes
    make: the same shape, the same parameters in the same places."""
    changes = BATCHES[name]
    for batcher in batchers():
        prepared = batcher.column_params(as_columns(changes))
        ops = batcher._creates(changes)
        assert prepared is not None and ops is not None, name
        shape, params = prepared
        assert shape == ops[0].shape
        sql = statements(batcher, shape)
        assert sql.column_rows(params) == sql.straight_rows(ops)
        assert sql.column_rows(params) is not None


def test_a_field_a_text_column_needs_is_given_as_empty_text_when_sent_as_columns() -> None:
    """A mapped field no create sets, into a text column refusing NULL: empty text, as
    the changes would be given (`Batcher._filled`)."""
    columns = {**PG, "name": postgresql.Column("name", "text", "text", not_null=True)}
    batcher = Batcher(
        "postgresql", LAYOUT, columns, postgresql.param_of, postgresql.canonical_value
    )
    changes = [create("u1", groups=["a"]), create("u2", groups=["b"])]
    prepared = batcher.column_params(as_columns(changes))
    ops = batcher.groups(changes, [Outcome()] * 2)[0]
    assert prepared is not None
    shape, params = prepared
    assert shape == ops[0].shape and params["name"] == ["", ""]
    sql = PgStatements.of("t", columns, shape, True)
    assert sql.column_rows(params) == sql.straight_rows(ops)


def test_a_decimal_the_column_would_round_fails_its_create_alone() -> None:
    """Creates a field at a time (a first run's, sent as changes or as columns) with a
    value a decimal column would round: each is prepared alone, and that one fails."""
    amount = postgresql.Column("amount", "numeric", "numeric(6,2)", scale=2)
    layout = Layout(keys=("id",), fields=("id", "amount"))
    batcher = Batcher(
        "postgresql",
        layout,
        {"id": PG["id"], "amount": amount},
        postgresql.param_of,
        postgresql.canonical_value,
    )
    changes = [create("u1", amount="1.25"), create("u2", amount="1.255")]
    assert batcher._creates(changes) is None
    assert batcher.column_params(as_columns(changes)) is None
    outcomes = [Outcome()] * 2
    groups = batcher.groups(changes, outcomes)
    assert [op.index for group in groups for op in group] == [0]
    assert outcomes[0] == Outcome() and "would round" in (outcomes[1].error or "")


@pytest.mark.parametrize(
    "changes",
    [
        [create("u1", name="A"), create("u1", name="B")],  # a key twice: in order
        [create("u1", name="A"), create("", name="B")],  # an empty key: its own error
    ],
)
def test_creates_sent_as_columns_that_are_no_first_run_group_go_as_changes(
    changes: list[Change],
) -> None:
    for batcher in batchers():
        assert batcher.column_params(as_columns(changes)) is None
