"""A field naming an attribute the directory's schema does not define is refused when
the side is opened — before a plan is made — naming it and the attribute it is near:
a source would read it as empty in every entry (a plan clearing the field everywhere),
a destination would fail every write of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import BadInput
from services.providers.base import Layout
from tests.ldap_server import Slapd

from .ldap_helpers import connection, provider


async def test_a_misspelt_attribute_a_source_reads_is_refused(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    layout = Layout(reads=("uid", "cn", "telephonNumber"))
    with pytest.raises(BadInput) as caught:
        await provider(connection(tmp_path, slapd.url), ldap_base, layout, write=False)
    said = str(caught.value)
    assert "no attribute 'telephonNumber' (did you mean 'telephoneNumber'?)" in said
    assert f"which the job reads below {ldap_base}" in said


async def test_a_misspelt_attribute_a_destination_writes_is_refused_when_previewed(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    layout = Layout(keys=("uid",), fields=("uid", "telephonNumber", "sn"))
    with pytest.raises(BadInput, match=r"no attribute 'telephonNumber' .*which the job writes"):
        # a preview opens the destination to read it, not to write
        await provider(connection(tmp_path, slapd.url), ldap_base, layout, write=False)


async def test_attributes_the_schema_defines_are_taken_in_any_case_with_options(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    layout = Layout(
        reads=("UID", "dn", "modifyTimestamp", "userCertificate;binary", "id", "first_name")
    )
    side = await provider(connection(tmp_path, slapd.url), ldap_base, layout, write=False)
    await side.close()
