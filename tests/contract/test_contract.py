"""The provider contract (services/providers/base.py), checked on every provider."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import pytest

from core.errors import BadInput
from schemas.plan import Change
from schemas.values import Record
from services.providers.base import HoldingReader, KeyReader, Layout, Outcome
from tests.contract.conftest import LAYOUT, OpenSide
from tests.contract.harness import ProviderHarness, create, delete, read_all, update

PEOPLE: list[Record] = [
    {"id": "u1", "name": "Ann Lee", "mail": "ann@example.com", "groups": ["staff", "admins"]},
    {"id": "u2", "name": "Bo Chen", "groups": ["staff"]},
    {"id": "u3", "name": "Cy Diaz", "mail": "cy@example.com"},
]


def errors(outcomes: Sequence[Outcome]) -> list[str | None]:
    return [outcome.error for outcome in outcomes]


async def test_reads_every_record_in_batches_no_larger_than_the_batch_size(
    harness: ProviderHarness, side: OpenSide
) -> None:
    records: list[Record] = [{"id": f"u{i:02d}", "name": f"User {i}"} for i in range(7)]
    harness.seed(LAYOUT, records)
    source = await side(write=False)

    batches = [batch async for batch in source.read(3)]

    assert all(0 < len(batch) <= 3 for batch in batches)
    assert sorted((r for b in batches for r in b), key=lambda r: str(r["id"])) == records


async def test_reads_seeded_records_with_multi_values_split(
    harness: ProviderHarness, side: OpenSide
) -> None:
    harness.seed(LAYOUT, PEOPLE)

    assert await read_all(await side(write=False)) == harness.as_read(PEOPLE)


async def test_created_records_read_back(harness: ProviderHarness, side: OpenSide) -> None:
    destination = await side()
    changes = [create(str(r["id"]), **{k: v for k, v in r.items() if k != "id"}) for r in PEOPLE]

    assert errors(await destination.apply(changes)) == [None, None, None]
    assert await read_all(destination) == harness.as_read(PEOPLE)
    assert await read_all(await side(write=False)) == harness.as_read(PEOPLE)


async def test_update_sets_and_clears_fields(harness: ProviderHarness, side: OpenSide) -> None:
    harness.seed(LAYOUT, PEOPLE)
    destination = await side()

    outcomes = await destination.apply([update("u1", clear=("mail",), name="Ann Li")])

    assert errors(outcomes) == [None]
    assert [(await read_all(destination))[0]] == harness.as_read(
        [{"id": "u1", "name": "Ann Li", "groups": ["staff", "admins"]}]
    )


async def test_delete_removes_only_that_record_and_absent_is_fine(
    harness: ProviderHarness, side: OpenSide
) -> None:
    harness.seed(LAYOUT, PEOPLE)
    destination = await side()

    outcomes = await destination.apply([delete("u2"), delete("nobody")])

    assert errors(outcomes) == [None, None]
    assert [r["id"] for r in await read_all(destination)] == ["u1", "u3"]


async def test_update_of_a_missing_record_is_that_change_error_only(
    harness: ProviderHarness, side: OpenSide
) -> None:
    harness.seed(LAYOUT, PEOPLE)
    destination = await side()

    outcomes = await destination.apply([update("ghost", name="X"), update("u3", name="Cy D")])

    assert outcomes[0].error is not None and outcomes[1].error is None
    ids = {r["id"]: r.get("name") for r in await read_all(destination)}
    assert ids == {"u1": "Ann Lee", "u2": "Bo Chen", "u3": "Cy D"}


async def test_unsupported_actions_are_reported_and_the_rest_applies(
    harness: ProviderHarness, side: OpenSide
) -> None:
    harness.seed(LAYOUT, PEOPLE)
    destination = await side()
    changes = [Change(action=a, key="u1", match={"id": "u1"}) for a in harness.unsupported]

    outcomes = await destination.apply([*changes, create("u9", name="New")])

    for action, outcome in zip(harness.unsupported, outcomes, strict=False):
        assert outcome.error is not None and action in outcome.error
    assert outcomes[-1].error is None
    assert [r["id"] for r in await read_all(destination)] == ["u1", "u2", "u3", "u9"]


async def test_applying_the_same_batch_twice_gives_the_same_state(
    harness: ProviderHarness, side: OpenSide
) -> None:
    harness.seed(LAYOUT, PEOPLE)
    destination = await side()
    batch = [
        create("u1", name="Ann Lee", mail="ann@new.example.com"),
        create("u4", name="Di Ek", groups=["staff"]),
        update("u2", clear=("groups",), mail="bo@example.com"),
        delete("u3"),
    ]

    first = await destination.apply(batch)
    after_first = await read_all(destination)
    second = await destination.apply(batch)
    after_second = await read_all(destination)

    assert errors(first) == errors(second) == [None] * 4
    assert after_first == after_second
    assert [r["id"] for r in after_second] == ["u1", "u2", "u4"]
    assert after_second[0]["mail"] == "ann@new.example.com"


async def test_changes_to_one_key_in_one_batch_apply_in_order(
    harness: ProviderHarness, side: OpenSide
) -> None:
    destination = await side()
    batch = [
        create("u1", name="A"),
        update("u1", name="B"),
        delete("u1"),
        create("u1", name="C", mail="c@example.com"),
        create("u2", name="Bo"),
        update("u1", clear=("mail",)),
    ]

    assert errors(await destination.apply(batch)) == [None] * 6
    assert await read_all(destination) == [{"id": "u1", "name": "C"}, {"id": "u2", "name": "Bo"}]


async def test_every_spelling_of_no_value_reads_back_as_absent(
    harness: ProviderHarness, side: OpenSide
) -> None:
    destination = await side()
    changes = [
        create("u1", name="", groups=[]),
        create("u2", name="Bo", mail="bo@example.com", groups=["", "staff", ""]),
        update("u2", name=""),
    ]

    assert errors(await destination.apply(changes)) == [None] * 3
    assert await read_all(destination) == [
        {"id": "u1"},
        {"id": "u2", "mail": "bo@example.com", "groups": ["staff"]},
    ]
    assert destination.canonical({"id": "u1", "name": "", "groups": []}) == {"id": "u1"}


async def test_multi_valued_fields_round_trip(harness: ProviderHarness, side: OpenSide) -> None:
    destination = await side()
    records: list[Record] = [
        {"id": "u1", "groups": ["staff", "admins", "Ökologie"]},
        {"id": "u2", "groups": ["solo"]},
    ]

    await destination.apply([create(str(r["id"]), groups=r["groups"]) for r in records])

    assert await read_all(destination) == harness.as_read(records)
    assert [destination.canonical(r) for r in records] == harness.as_read(records)


async def test_unicode_is_stored_exactly_without_normalization(
    harness: ProviderHarness, side: OpenSide
) -> None:
    nfc, nfd = unicodedata.normalize("NFC", "Zoë Brontë"), unicodedata.normalize("NFD", "Zoë")
    names = {
        "nfc": nfc,
        "nfd": nfd,
        "emoji": "Ada 👩🏽‍💻 🏳️‍🌈",
        "rtl": "שלום עולם مرحبا",
        "cjk": "山田 太郎",
        "astral": "\U00020bb7\u91ce \U0001d518",  # outside the BMP
    }
    destination = await side()

    await destination.apply([create(key, name=name) for key, name in names.items()])

    read = {str(r["id"]): r["name"] for r in await read_all(await side(write=False))}
    assert read == names
    assert read["nfd"] != unicodedata.normalize("NFC", "Zoë")


@pytest.mark.parametrize(
    "value",
    [
        "a,b,c",
        "semi;colon",
        'say "hi"',
        '"quoted"',
        "it's",
        "line one\nline two",
        "windows\r\nline",
        "  padded both sides  ",
        "\ttabbed",
        "pipe|not multi-valued here",
        "=1+2",
        " ",
    ],
)
async def test_awkward_text_is_stored_literally(
    harness: ProviderHarness, side: OpenSide, value: str
) -> None:
    destination = await side()

    await destination.apply([create("u1", name=value, mail="x@example.com")])

    assert await read_all(await side(write=False)) == [
        {"id": "u1", "name": value, "mail": "x@example.com"}
    ]


async def test_missing_destination_reads_empty_and_first_apply_creates_it(
    harness: ProviderHarness, side: OpenSide
) -> None:
    destination = await side()

    assert await read_all(destination) == []
    assert not harness.exists(), "open(write=True) must write nothing"
    await destination.apply([create("u1", name="Ann")])

    assert harness.exists()
    assert await read_all(await side(write=False)) == [{"id": "u1", "name": "Ann"}]


async def test_applying_no_changes_creates_nothing(
    harness: ProviderHarness, side: OpenSide
) -> None:
    destination = await side()

    assert await destination.apply([]) == []
    assert not harness.exists()


async def test_missing_source_is_bad_input(harness: ProviderHarness, side: OpenSide) -> None:
    with pytest.raises(BadInput):
        source = await side(write=False)
        await read_all(source)


async def test_a_job_without_declared_fields_creates_the_fields_it_sees(
    harness: ProviderHarness, side: OpenSide
) -> None:
    layout = Layout(keys=("id",))
    destination = await side(layout)

    await destination.apply([create("u1", name="Ann"), create("u2", title="CTO")])

    assert await read_all(await side(layout, write=False)) == [
        {"id": "u1", "name": "Ann"},
        {"id": "u2", "title": "CTO"},
    ]


async def test_canonical_predicts_what_reads_back(harness: ProviderHarness, side: OpenSide) -> None:
    """What the plan compares (canonical source records) equals what the destination
    reads after the write: no phantom updates on the next run."""
    wanted: list[Record] = [
        {"id": "u1", "name": "  Ann  ", "groups": ["b", "a"], "mail": ""},
        {"id": "u2", "name": "Bo\nChen", "groups": []},
    ]
    destination = await side()

    await destination.apply(
        [create(str(r["id"]), **{k: v for k, v in r.items() if k != "id"}) for r in wanted]
    )

    read = await read_all(destination)
    assert read == [destination.canonical(r) for r in wanted]
    assert [destination.canonical(r) for r in read] == read


async def test_a_side_that_looks_keys_up_gives_at_least_their_records(
    harness: ProviderHarness, side: OpenSide
) -> None:
    """KeyReader: the records of the keys asked for, in batches as `read`, each once;
    none for a key no record holds. (A side that cannot look keys up is read whole.)"""
    records: list[Record] = [{"id": f"u{i:02d}", "name": f"User {i}"} for i in range(7)]
    harness.seed(LAYOUT, records)
    source = await side(write=False)
    if not isinstance(source, KeyReader) or not source.reads_keys("id"):
        pytest.skip(f"{type(source).__name__} does not look records up by key")

    asked = ["u05", "u01", "nobody", "u03"]
    batches = [batch async for batch in source.read_keys("id", asked, 2)]

    assert all(0 < len(batch) <= 2 for batch in batches)
    found = sorted((r for b in batches for r in b), key=lambda r: str(r["id"]))
    assert [r for r in found if r["id"] in asked] == [records[1], records[3], records[5]]
    assert [batch async for batch in source.read_keys("id", ["nobody"], 2)] == []


@pytest.mark.parametrize("field", ["id", "mail"])
async def test_a_side_that_looks_up_what_values_hold_finds_them_however_spelled(
    harness: ProviderHarness, side: OpenSide, field: str
) -> None:
    """HoldingReader (how an absence is confirmed): the records whose field holds each
    text of one of the parts asked for — a value with spaces around it too, which the
    run takes for the same key —, maybe others; none where no record holds them."""
    records: list[Record] = [
        {"id": f"u{i:02d}", "name": f"User {i}", "mail": f"u{i:02d}@example.com"} for i in range(4)
    ]
    records[2] = {**records[2], "id": "u02 ", "mail": " u02@example.com"}
    made = harness.make(LAYOUT)
    made = getattr(made, "provider", made)  # under a renaming
    if not isinstance(made, HoldingReader):
        pytest.skip(f"{type(made).__name__} does not look records up by what they hold")
    harness.seed(LAYOUT, records)
    source = await side(write=False)
    inner = getattr(source, "provider", source)
    assert isinstance(inner, HoldingReader)
    path = getattr(source, "out", {}).get(field, field)
    parts = [["u02"], ["u0", "3"], ["nobody"]]
    batches = [batch async for batch in inner.read_holding(path, parts, 2)]

    assert all(0 < len(batch) <= 2 for batch in batches)
    found = {str(record.get(path)) for batch in batches for record in batch}
    assert found == {records[2][field], records[3][field]}
    assert [batch async for batch in inner.read_holding(path, [["nobody"]], 2)] == []
