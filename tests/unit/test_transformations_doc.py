"""Every field map in docs/transformations.md is valid TOML and a valid transformation."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from core.engine.context import MappingContext
from core.engine.mapping import check_mapping, compile_mapping
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


def test_the_name_turned_around_keeps_every_part_of_both_names() -> None:
    """The page's `replace` that writes "Last, First" as "First Last": a hyphenated or
    several-word name is turned around whole, not cut at the first non-word character."""
    [line] = [line for line in FIELD_MAPS if line.startswith('{ to = "cn",    transform = { rep')]
    field = msgspec.convert(tomllib.loads(f"f = {line}")["f"], FieldMap)
    mapping = ObjectMapping(keys=["key"], fields=[FieldMap(to="key"), field])
    context = MappingContext(job_id="doc", run_id="r1", now=datetime(2026, 1, 2, tzinfo=UTC))
    compiled = compile_mapping(mapping, context)
    for name, turned in [
        ("Smith, Mary-Ann", "Mary-Ann Smith"),
        ("Schermesser, Remy-Christophe", "Remy-Christophe Schermesser"),
        ("García López, José María", "José María García López"),
    ]:
        assert compiled.map({"key": "k", "cn": name})["cn"] == turned
