"""map_record and the field lists a mapping implies."""

from __future__ import annotations

import copy

import pytest

from schemas.jobs import FieldMap, ObjectMapping
from schemas.values import Binary, Record
from services.runner.engine import (
    destination_multi_valued,
    managed_fields,
    map_record,
    source_multi_valued,
)

PHOTO = Binary(b"\x89PNG")


def mapping(*fields: FieldMap) -> ObjectMapping:
    return ObjectMapping(keys=["uid"], fields=list(fields))


@pytest.mark.parametrize(
    ("fields", "record", "expected"),
    [
        pytest.param(
            [],
            {"uid": "alice", "mail": "a@example.org"},
            {"uid": "alice", "mail": "a@example.org"},
            id="no-field-maps-copies-every-field",
        ),
        pytest.param(
            [],
            {"uid": "alice", "mail": "", "groups": ["", "staff"], "tags": []},
            {"uid": "alice", "groups": ["staff"]},
            id="no-field-maps-drops-empty-values",
        ),
        pytest.param(
            [FieldMap(to="uid"), FieldMap(to="mail", from_="email")],
            {"uid": "alice", "email": "a@example.org", "phone": "123"},
            {"uid": "alice", "mail": "a@example.org"},
            id="renames-and-drops-unmapped-fields",
        ),
        pytest.param(
            [FieldMap(to="uid"), FieldMap(to="mail")],
            {"uid": "alice"},
            {"uid": "alice"},
            id="missing-source-field-is-no-value",
        ),
        pytest.param(
            [FieldMap(to="groups", delimiter=";")],
            {"groups": "staff;;admins;"},
            {"groups": ["staff", "admins"]},
            id="multi-valued-text-is-split",
        ),
        pytest.param(
            [FieldMap(to="groups", delimiter=";")],
            {"groups": "staff"},
            {"groups": ["staff"]},
            id="multi-valued-one-item-stays-a-list",
        ),
        pytest.param(
            [FieldMap(to="groups", delimiter=";")],
            {"groups": ";;"},
            {},
            id="multi-valued-only-delimiters-is-no-value",
        ),
        pytest.param(
            [FieldMap(to="groups", delimiter=";")],
            {"groups": ["a;b", "c"]},
            {"groups": ["a;b", "c"]},
            id="multi-valued-list-passes-as-list",
        ),
        pytest.param(
            [FieldMap(to="groups")],
            {"groups": ["", "a", ""]},
            {"groups": ["a"]},
            id="one-value-list-without-delimiter-passes-as-list",
        ),
        pytest.param(
            [FieldMap(to="groups", if_several="first")],
            {"groups": ["", "a", "b"]},
            {"groups": "a"},
            id="several-values-without-delimiter-first-when-the-job-says-so",
        ),
        pytest.param(
            [FieldMap(to="photo", delimiter=";")],
            {"photo": PHOTO},
            {"photo": PHOTO},
            id="binary-passes-unsplit",
        ),
        pytest.param(
            [FieldMap(to="uid"), FieldMap(to="login", from_="uid")],
            {"uid": "José"},
            {"uid": "José", "login": "José"},
            id="one-source-field-two-destinations",
        ),
        pytest.param(
            [FieldMap(to="cn", from_="name"), FieldMap(to="cn", from_="full_name")],
            {"name": "Al", "full_name": "Alice Liddell"},
            {"cn": "Alice Liddell"},
            id="same-destination-twice-later-wins",
        ),
    ],
)
def test_map_record(fields: list[FieldMap], record: Record, expected: Record) -> None:
    assert map_record(record, mapping(*fields)) == expected


@pytest.mark.parametrize(
    "fields",
    [pytest.param([], id="copy-all"), pytest.param([FieldMap(to="groups")], id="mapped")],
)
def test_map_record_neither_mutates_nor_shares_lists(fields: list[FieldMap]) -> None:
    record: Record = {"uid": "alice", "groups": ["staff", ""], "photo": PHOTO}
    original = copy.deepcopy(record)
    mapped = map_record(record, mapping(*fields))
    assert record == original
    mapped_groups = mapped["groups"]
    assert isinstance(mapped_groups, list)
    mapped_groups.append("changed later")
    assert record == original


MULTI = mapping(
    FieldMap(to="uid"),
    FieldMap(to="groups", from_="memberships", delimiter=";"),
    FieldMap(to="mail", delimiter=","),
)


def test_source_multi_valued() -> None:
    assert source_multi_valued(MULTI) == {"memberships": ";", "mail": ","}


def test_destination_multi_valued() -> None:
    assert destination_multi_valued(MULTI) == {"groups": ";", "mail": ","}


@pytest.mark.parametrize(
    ("fields", "source_fields", "expected"),
    [
        pytest.param(
            [FieldMap(to="uid"), FieldMap(to="mail", from_="email"), FieldMap(to="uid")],
            ["ignored"],
            ("uid", "mail"),
            id="mapped-to-fields-in-order-once",
        ),
        pytest.param(
            [],
            ["uid", "mail", "uid", "cn", "mail"],
            ("uid", "mail", "cn"),
            id="copy-all-first-seen",
        ),
        pytest.param([], [], (), id="copy-all-nothing-seen"),
    ],
)
def test_managed_fields(
    fields: list[FieldMap], source_fields: list[str], expected: tuple[str, ...]
) -> None:
    assert managed_fields(mapping(*fields), iter(source_fields)) == expected
