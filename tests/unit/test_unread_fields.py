"""A field made from a source attribute that no record read holds (an attribute the
account may no longer read) is held by a run of the whole source: neither set nor cleared
on any object, with a warning naming it — else every object's value would be cleared."""

from __future__ import annotations

from core.engine.context import MappingContext
from core.engine.mapping import compile_mapping
from schemas.jobs import FieldMap, ObjectMapping
from schemas.values import Record
from services.runner.planning.source import SourceMapper, attributes_of_fields

MAPPING = ObjectMapping(
    keys=["id"],
    fields=[
        FieldMap(to="id", from_="uid"),
        FieldMap(to="name", from_="cn"),
        FieldMap(to="kind", from_="employeeType"),
        FieldMap(to="member", delimiter="|"),
        FieldMap(to="label", transform={"format": "{cn} ({employeeType})"}),
        FieldMap(to="site", transform={"static": "HQ"}),
        FieldMap(to="mail", transform=["lower", "trim"]),
        FieldMap(to="title", transform={"default": "Staff"}),
    ],
)


def watching(mapping: ObjectMapping = MAPPING) -> SourceMapper:
    """A mapper of a source that names no fields before it is read, as `mapper_of` makes."""
    compiled = compile_mapping(mapping, MappingContext.checking("job"))
    mapper = SourceMapper(compiled, lambda record: record, mapping)
    mapper.watch_fields(attributes_of_fields(mapping))
    return mapper


def held(mapper: SourceMapper, *batches: list[Record]) -> list[str]:
    for batch in batches:
        mapper.map(batch)
    kept = mapper.hold_fields(MAPPING)
    return [field.to for field in MAPPING.fields if field not in kept.fields]


def test_a_field_no_record_read_holds_is_held_with_a_warning_naming_it() -> None:
    mapper = watching()
    read: list[Record] = [{"uid": "ada", "cn": "Ada"}, {"uid": "bob", "cn": "Bob"}]
    # label also reads cn, which the records hold; site and title are made of nothing.
    assert held(mapper, read[:1], read[1:]) == ["kind", "member", "mail"]
    mapper.weigh_held([{"id": "ada", "kind": "staff", "member": ["bob"], "mail": "a@x"}])
    [kind, member, _] = mapper.blind_warnings()
    assert kind.startswith("user: 'kind' is made from 'employeeType', which none of the 2")
    assert "the account may read it" in kind and "--key" in kind
    assert member.startswith("user: 'member' is made from 'member'")


def test_one_record_holding_it_in_any_batch_is_enough() -> None:
    mapper = watching()
    first: list[Record] = [{"uid": "ada", "cn": "Ada"}, {"uid": "bob", "cn": "Bob"}]
    second: list[Record] = [
        {"uid": "cyd", "cn": "Cyd", "employeeType": "staff", "member": ["x"], "mail": "c@x"}
    ]
    assert held(mapper, first, second) == []
    assert mapper.blind_warnings() == []


def test_a_single_record_without_it_is_no_sign() -> None:
    mapper = watching()
    assert held(mapper, [{"uid": "ada", "cn": "Ada"}]) == []
    assert mapper.blind_warnings() == []


def test_an_empty_value_is_no_value() -> None:
    mapper = watching()
    read: list[Record] = [
        {"uid": "ada", "cn": "Ada", "employeeType": "", "member": [], "mail": "a@x"},
        {"uid": "bob", "cn": "Bob", "employeeType": "staff", "member": []},
    ]
    assert held(mapper, read) == ["member"]


def test_keys_and_fields_a_transformation_may_make_of_nothing_are_never_held() -> None:
    # A value a transformation makes where its fields hold none is set as ever.
    assert attributes_of_fields(MAPPING) == {
        "name": ("cn",),
        "kind": ("employeeType",),
        "member": ("member",),
        "mail": ("mail",),
    }


def test_a_field_no_object_holds_either_is_held_without_a_warning() -> None:
    # An attribute nobody has (a directory without phone numbers): nothing was kept from
    # a clear, so no run of the job warns of it.
    mapper = watching()
    read: list[Record] = [{"uid": "ada", "cn": "Ada"}, {"uid": "bob", "cn": "Bob"}]
    assert held(mapper, read) == ["kind", "member", "mail"]
    mapper.weigh_held([{"id": "ada", "name": "Ada", "kind": "", "member": []}, {"id": "bob"}])
    assert mapper.blind_warnings() == []
    mapper.weigh_held([{"id": "cyd", "mail": "c@x"}])
    [mail] = mapper.blind_warnings()
    assert mail.startswith("user: 'mail' is made from 'mail'")


def test_a_field_a_run_never_clears_is_never_held_nor_warned_of() -> None:
    # Written only at creation, only where the object has none, or merged with the
    # object's values: an empty source value clears none of them, so an attribute no
    # record holds (the helpdesk keeps phone numbers) is no sign of a right revoked.
    mapping = ObjectMapping(
        keys=["id"],
        fields=[
            FieldMap(to="id", from_="uid"),
            FieldMap(to="badge", from_="employeeNumber", create_only=True),
            FieldMap(to="phone", from_="telephoneNumber", policy="keep"),
            FieldMap(to="groups", from_="memberOf", delimiter="|", policy="merge"),
        ],
    )
    mapper = watching(mapping)
    mapper.map([{"uid": "ada"}, {"uid": "bob"}])
    assert mapper.hold_fields(mapping) is mapping
    mapper.weigh_held([{"id": "ada", "badge": "7", "phone": "123", "groups": ["staff"]}])
    assert mapper.blind_warnings() == []
