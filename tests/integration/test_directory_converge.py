"""Drawn histories on a real slapd: people and groups in two OUs, synchronised whole,
then changed at random — given another name (with `cn` the naming attribute: renamed),
moved to the other OU, leaving (moved away) or back, groups given other members, new
people and groups — and brought over by a run scoped to the changed records' keys, or
an incremental run. Whatever was drawn, each run's preview plans what it runs (the same
hash), a whole run of the first state leaves nothing for the next, and a whole run after
the partial one has nothing left to write.

Each round is seeded (its number): a failure names the seed, and the round replays.
IDSYNC_LONG_TESTS draws more rounds."""

from __future__ import annotations

import os
import random

import pytest

from .conftest import RunServices
from .test_directory_matrix import NEW, OLD, Directory, Row, directory, run_shape

__all__ = ["directory"]  # the fixture, for this module's tests

ROUNDS = 25 if os.environ.get("IDSYNC_LONG_TESTS") else 3
LEAVERS = 'leavers = { when = { field = "status", equals = "Terminated" }, action = "move" }'
PEOPLE = [f"p{n}" for n in range(1, 6)]
GROUPS = ["g1", "g2"]


def drawn(rng: random.Random, d: Directory) -> tuple[list[Row], list[Row]]:
    """A first state: some of the people and groups, in either OU, some having left."""
    people = [
        {
            "id": emp,
            "name": f"{rng.choice(['Ada', 'Bob'])} {emp}",
            "ou": d.ou(rng.choice("ab")),
            "at": OLD,
            "status": rng.choice(["Active", "Active", "Terminated"]),
        }
        for emp in rng.sample(PEOPLE, rng.randint(1, len(PEOPLE)))
    ]
    groups = [
        {
            "group": gid,
            "members": "|".join(rng.sample(PEOPLE, rng.randint(0, 3))),
            "ou": d.ou(rng.choice("ab")),
            "at": OLD,
        }
        for gid in rng.sample(GROUPS, rng.randint(0, len(GROUPS)))
    ]
    return people, groups


def changed(
    rng: random.Random, d: Directory, people: list[Row], groups: list[Row]
) -> tuple[list[Row], list[Row], list[str]]:
    """The next state: each record changed (stamped NEW) or not, and new ones; the keys of
    those changed or new. No record leaves the source: an incremental run does not see
    absences."""
    keys: list[str] = []
    then_people = []
    for row in people:
        if rng.random() < 0.5:
            row = {**row, "at": NEW}
            what = rng.choice(["name", "ou", "status"])
            if what == "name":
                row["name"] = f"Cy {row['id']}" if not row["name"].startswith("Cy") else row["id"]
            elif what == "ou":
                row["ou"] = d.ou("b") if row["ou"] == d.ou("a") else d.ou("a")
            else:
                row["status"] = "Active" if row["status"] == "Terminated" else "Terminated"
            keys.append(row["id"])
        then_people.append(row)
    for emp in sorted(set(PEOPLE) - {row["id"] for row in people}):
        if rng.random() < 0.5:
            then_people.append(
                {
                    "id": emp,
                    "name": f"Dee {emp}",
                    "ou": d.ou(rng.choice("ab")),
                    "at": NEW,
                    "status": "",
                }
            )
            keys.append(emp)
    then_groups = []
    for row in groups:
        if rng.random() < 0.5:
            row = {**row, "at": NEW, "members": "|".join(rng.sample(PEOPLE, rng.randint(0, 3)))}
            keys.append(row["group"])
        then_groups.append(row)
    for gid in sorted(set(GROUPS) - {row["group"] for row in groups}):
        if rng.random() < 0.5:
            members = "|".join(rng.sample(PEOPLE, rng.randint(1, 3)))
            then_groups.append({"group": gid, "members": members, "ou": d.ou("a"), "at": NEW})
            keys.append(gid)
    return then_people, then_groups, keys


@pytest.mark.parametrize("seed", range(ROUNDS))
@pytest.mark.parametrize("rdn", ["uid", "cn"])
@pytest.mark.parametrize("shape", ["key", "incremental"])
async def test_a_drawn_history_leaves_nothing_for_a_whole_run_to_write(
    directory: Directory,
    services: RunServices,
    capsys: pytest.CaptureFixture[str],
    shape: str,
    rdn: str,
    seed: int,
) -> None:
    d = directory
    rng = random.Random(seed)
    await d.define(rdn, leavers=LEAVERS)
    people, groups = drawn(rng, d)
    then_people, then_groups, keys = changed(rng, d, people, groups)
    history = f"seed {seed}: {people} {groups} then {then_people} {then_groups}"
    async with services():
        d.write(people, groups)
        await d.run(capsys)
        settled = await d.run(capsys)
        assert settled.stats.written == 0, f"a whole run settles its own state; {history}"

        d.write(then_people, then_groups)
        if shape == "incremental" or keys:
            await run_shape(d, capsys, shape, keys)
        after = await d.run(capsys)
        assert after.stats.written == 0, f"{shape} left {after.stats}; {history}"
