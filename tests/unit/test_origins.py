"""The source values a plan keeps of its transformed fields, for `idsync history why`
(core/origins.py): only fields a transformation computes, never a secret."""

from __future__ import annotations

import msgspec

from core.origins import origins_of, traced_fields
from schemas.jobs import ObjectMapping
from schemas.plan import Change

MAPPING = msgspec.convert(
    {
        "keys": ["id"],
        "fields": [
            {"to": "id"},
            {"to": "mail"},
            {"to": "department", "transform": {"map": {"Legal": "Law"}, "keep_unmapped": True}},
            {"to": "cn", "transform": {"join": ["first", "last"], "separator": " "}},
            {"to": "initial", "transform": {"password": 16}},
            {"to": "secretish", "from": "old_password", "transform": "lower"},
        ],
    },
    ObjectMapping,
)


def test_only_computed_fields_are_traced_and_never_a_secret() -> None:
    assert traced_fields(MAPPING) == {"department": ("department",), "cn": ("first", "last")}


def test_a_change_gets_the_source_values_of_the_fields_it_writes() -> None:
    origins = origins_of(MAPPING)
    assert origins is not None
    source = {"id": "7", "department": "Legal", "first": "Ada", "last": "Lovelace", "x": "y"}
    origins.keep({"id": "7", "department": "Law", "cn": "Ada Lovelace"}, source)
    update = Change(action="update", key="7", match={"id": "7"}, set={"department": "Law"})
    assert origins.of(update) == {"department": 'department="Legal"'}
    create = Change(action="create", key="7", match={"id": "7"}, set={"cn": "Ada Lovelace"})
    assert origins.of(create) == {"cn": 'first="Ada"; last="Lovelace"'}
    mail = Change(action="update", key="7", match={"id": "7"}, set={"mail": "a@x"})
    assert origins.of(mail) == {}, "a plain copy keeps nothing"
    other = Change(action="update", key="8", match={"id": "8"}, set={"department": "Law"})
    assert origins.of(other) == {}
    gone = Change(action="delete", key="7", match={"id": "7"})
    assert origins.of(gone) == {}


def test_a_job_without_transformations_keeps_nothing() -> None:
    plain = msgspec.structs.replace(MAPPING, fields=MAPPING.fields[:2])
    assert origins_of(plain) is None
