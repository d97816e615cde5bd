"""Every field map in docs/transformations.md is valid TOML and a valid transformation."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import msgspec
import pytest

from core.engine.mapping import check_mapping
from schemas.jobs import FieldMap, ObjectMapping

DOC = Path(__file__).resolve().parents[2] / "docs" / "transformations.md"
BLOCKS = re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S)
FIELD_MAPS = [
    line.split("  #")[0].strip().rstrip(",")
    for block in BLOCKS
    for line in block.splitlines()
    if line.strip().startswith("{ to =")
]


def test_the_page_has_examples() -> None:
    assert len(FIELD_MAPS) > 30


@pytest.mark.parametrize("line", FIELD_MAPS)
def test_each_example_is_accepted(line: str) -> None:
    field = msgspec.convert(tomllib.loads(f"f = {line}")["f"], FieldMap)
    mapping = ObjectMapping(keys=["key"], fields=[FieldMap(to="key"), field])
    assert check_mapping(mapping, "$.objects[0]", "doc") == []
