"""A field the job reads that the source lacks: the refusal says what was probably meant
— the name in another case or with spaces around it, or a header read whole because
the delimiter is another."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from core.errors import BadInput
from schemas.jobs import FieldMap, ObjectMapping
from services.providers.base import Provider
from services.runner.planning.source import check_source_fields


class Header:
    """A source that knows its fields, as a CSV header does."""

    def __init__(self, fields: list[str]) -> None:
        self.fields = fields

    def source_fields(self) -> list[str]:
        return self.fields


def refusal(fields: list[str], *maps: FieldMap) -> str:
    mapping = ObjectMapping(keys=[maps[0].to], fields=list(maps))
    with pytest.raises(BadInput) as refused:
        check_source_fields(mapping, cast(Provider, Header(fields)), "$.objects[0]", None)
    return str(refused.value)


def test_a_field_named_in_another_case_is_pointed_at() -> None:
    said = refusal(
        ["empNo", "firstName", "LastName"],
        FieldMap(to="emp_no", from_="empNo"),
        FieldMap(to="sn", from_="lastName"),
    )
    assert said == (
        "$.objects[0].fields[1].from: the source has no field 'lastName' (it has 'LastName': "
        "names compare with case) (its fields: empNo, firstName, LastName)"
    )


def test_a_field_named_with_spaces_around_it_is_pointed_at_and_shown_so() -> None:
    # "empNo ,firstName, lastName": the spaces are typed in the header, hard to see
    said = refusal(
        ["empNo ", "firstName", " lastName"],
        FieldMap(to="emp_no", from_="empNo"),
        FieldMap(to="sn", from_="lastName"),
    )
    assert said == (
        "$.objects[0].fields[0].from: the source has no field 'empNo' (it has 'empNo ', with "
        "spaces around it: names compare as written; remove them from the header, or name "
        "the field with them); $.objects[0].fields[1].from: the source has no field "
        "'lastName' (it has ' lastName', with spaces around it: names compare as written; "
        "remove them from the header, or name the field with them) (its fields: 'empNo ', "
        "firstName, ' lastName')"
    )


def test_a_header_read_as_one_field_names_the_delimiter_it_holds() -> None:
    said = refusal(
        ["empNo;firstName;lastName"],
        FieldMap(to="emp_no", from_="empNo"),
        FieldMap(to="sn", from_="lastName"),
    )
    assert said.endswith(
        '(its fields: empNo;firstName;lastName); the header reads as one field holding ";": '
        'if that is the file\'s delimiter, set delimiter = ";" on the connection or on the '
        "job's source"
    )


async def test_a_renamed_header_names_the_file_whose_header_it_is(tmp_path: Path) -> None:
    from schemas.connections import CsvConnection
    from schemas.jobs import Endpoint
    from services.providers import open_provider
    from services.runner.planning.sides import source_layout

    (tmp_path / "hr.csv").write_text("employeeNo,firstName\n1001,Tamesha\n")
    mapping = ObjectMapping(
        keys=["employeeNumber"], fields=[FieldMap(to="employeeNumber", from_="empNo")]
    )
    endpoint = Endpoint(connection="hr", file="hr.csv")
    source = open_provider(
        CsvConnection(id="hr", directory=str(tmp_path)), endpoint, source_layout(mapping)
    )
    await source.open(write=False)
    with pytest.raises(BadInput) as refused:
        check_source_fields(mapping, source, "$.objects[0]", None)
    assert str(refused.value) == (
        "$.objects[0].fields[0].from: the source has no field 'empNo' (its fields: "
        f"employeeNo, firstName); read from the header of {tmp_path / 'hr.csv'}"
    )
