"""Group members named by a uid or a cn that a DN must escape (a comma, a plus, an equals
sign, a backslash, a quote, a leading #, non-ASCII text) on a real slapd: created with
their groups in one run, renamed in each shape of run, the next run writes nothing."""

from __future__ import annotations

import pytest

from .conftest import RunServices
from .test_directory_matrix import NEW, Directory, cdn, directory, group, run_shape, user

__all__ = ["directory"]

ODD = ["a,b", "c+d", "x=y", "back\\slash", 'quo"te', "#hash", "Ümit", "semi;colon", "lt<gt>"]


async def test_members_whose_uid_a_dn_escapes_are_written_once(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str]
) -> None:
    d = directory
    await d.define()
    a = d.ou("a")
    people = [{**user(n, a), "id": uid} for n, uid in enumerate(ODD, 1)]
    team = {**group("team", a), "members": "|".join(ODD)}
    d.write(people, [team])
    async with services():
        first = await d.run(capsys)
        assert (first.stats.created, first.stats.failed) == (len(ODD) + 1, 0), first.stats
        again = await d.run(capsys)
        assert again.stats.written == 0, again.stats


@pytest.mark.parametrize("shape", ["whole", "key", "incremental"])
async def test_a_member_renamed_to_a_name_a_dn_escapes_is_followed_by_its_group(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    d = directory
    await d.define(rdn="cn")
    a = d.ou("a")
    d.write([user(1, a, "Smith, John"), user(2, a, "Lee+Ann")], [group("team", a, 1, 2)])
    async with services():
        first = await d.run(capsys)
        assert (first.stats.created, first.stats.failed) == (3, 0), first.stats
        d.write(
            [user(1, a, 'O"Neil, J=1', at=NEW), user(2, a, "Lee+Ann")], [group("team", a, 1, 2)]
        )
        renamed = await run_shape(d, capsys, shape, ["p1"])
        assert (renamed.stats.updated, renamed.stats.failed) >= (1, 0), renamed.stats
        state = d.state()
        assert state[cdn(f"cn=team,{a}")]["member"] == sorted(
            [cdn(f'cn=O\\"Neil\\, J\\=1,{a}'), cdn(f"cn=Lee\\+Ann,{a}")]
        ), state
        again = await d.run(capsys)
        assert again.stats.written == 0, again.stats


async def test_a_member_named_in_another_case_is_the_entry_the_server_holds_so(
    directory: Directory, services: RunServices, capsys: pytest.CaptureFixture[str]
) -> None:
    """uid compares without case on the server, though the job's keys compare with case:
    a member named "P1" is the entry whose uid is "p1", as the server has it."""
    d = directory
    await d.define()
    a = d.ou("a")
    d.write([user(1, a), user(2, a)], [{**group("team", a), "members": "P1|p2"}])
    async with services():
        first = await d.run(capsys)
        assert (first.stats.created, first.stats.failed) == (3, 0), first.stats
        assert d.state()[cdn(f"cn=team,{a}")]["member"] == sorted(
            [cdn(f"uid=p1,{a}"), cdn(f"uid=p2,{a}")]
        )
        again = await d.run(capsys)
        assert again.stats.written == 0, again.stats
