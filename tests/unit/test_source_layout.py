"""What a source's provider is told of the fields its job reads (`source_layout`): the
fields the mapping, its transformations, `where` and `leavers` name — and, when a script
is given the whole record, that any other field may be read too."""

from __future__ import annotations

from schemas.jobs import FieldMap, Leavers, ObjectMapping
from services.runner.planning.sides import source_layout

NAME = FieldMap(to="cn", transform={"join": ["givenName", "sn"], "separator": " "})


def test_the_fields_read_are_the_mapped_ones_and_those_named_elsewhere() -> None:
    mapping = ObjectMapping(
        keys=["uid"],
        fields=[FieldMap(to="uid"), FieldMap(to="login", from_="mail"), NAME],
        leavers=Leavers(when={"field": "employeeType", "equals": "left"}),
    )
    layout = source_layout(mapping, {"field": "title", "empty": False})
    assert layout.reads == ("uid", "mail", "givenName", "sn", "employeeType", "title")
    assert not layout.every_field


def test_a_script_may_read_any_field_the_named_ones_still_listed() -> None:
    script = FieldMap(to="note", transform=["trim", {"script": "tests.plugins.scripted:login"}])
    layout = source_layout(ObjectMapping(keys=["uid"], fields=[FieldMap(to="uid"), script]))
    assert (layout.reads, layout.every_field) == (("uid", "note"), True)
    nested = FieldMap(
        to="note",
        transform={"if": {"field": "title", "empty": True}, "then": {"script": "m:f"}},
    )
    layout = source_layout(ObjectMapping(keys=["uid"], fields=[FieldMap(to="uid"), nested]))
    assert (layout.reads, layout.every_field) == (("uid", "note", "title"), True)


def test_a_job_copying_every_field_names_none() -> None:
    layout = source_layout(ObjectMapping(keys=["uid"]))
    assert (layout.reads, layout.every_field) == ((), True)
