"""A value holding a line break (an address typed on two lines in a CSV cell) is shown on
its row as `\\n`: the rest of a table or a plan does not shift onto a line of its own."""

from __future__ import annotations

import io
from typing import cast

from core.engine.plan import Plan
from schemas.jobs import Endpoint, Job, ObjectMapping
from schemas.plan import Change, PlanCounts
from services.cli.output import print_table
from services.cli.preview import change_line, preview_text
from services.common.store import Store
from services.runner.planning import PlannedRun

ADDRESS = "156 av. de Malakof\r\n75116 PARIS\tFrance"


def test_a_table_keeps_one_line_per_row() -> None:
    out = io.StringIO()
    print_table([["s.bahloul", ADDRESS, "applied"]], ["KEY", "NEW", "OUTCOME"], out)
    header, row, *more = out.getvalue().splitlines()
    assert row == "s.bahloul  156 av. de Malakof\\r\\n75116 PARIS\\tFrance  applied"
    assert not more
    assert header.index("OUTCOME") == row.index("applied")


async def test_a_plan_keeps_one_line_per_change() -> None:
    job = Job(
        id="hr",
        source=Endpoint(connection="files", file="hr.csv"),
        destination=Endpoint(connection="db", table="people"),
        objects=[ObjectMapping(keys=["uid"])],
    )
    update = Change(
        action="update",
        key="s.bahloul",
        match={"uid": "s.bahloul"},
        set={"address": ADDRESS},
        before={"address": "Paris"},
    )
    plan = Plan(changes=[update], counts=PlanCounts(update=1), hash="0" * 64)
    planned = PlannedRun(plan=plan, source_records=1, destination_records=1)
    text = await preview_text(cast(Store, None), job, planned, 20)
    assert text.splitlines()[2] == (
        "  update  s.bahloul  address: Paris → 156 av. de Malakof\\r\\n75116 PARIS\\tFrance"
    )


def test_characters_a_terminal_does_not_show_are_spelled_out() -> None:
    # An export that added a zero-width space, or a no-break space after a name: the
    # plan's line must not read "Blythe → Blythe", an update that looks like none.
    out = io.StringIO()
    rows = [["1005", "\u200b+421-563", "Blythe\u00a0", "Zoë\u202fÅngström", "\ufeffid"]]
    print_table(rows, ["KEY", "PHONE", "SN", "CN", "FIRST"], out)
    row = out.getvalue().splitlines()[1]
    assert row == "1005  \\u200b+421-563  Blythe\\u00a0  Zoë\\u202fÅngström  \\ufeffid"


def test_an_update_of_the_unicode_form_alone_says_so() -> None:
    # a Mac export decomposes "é" (e and an accent): it reads the same on both sides
    composed, decomposed = "Tam\u00e9sha", "Tame\u0301sha"
    change = Change(
        action="update",
        key="1001",
        match={"id": "1001"},
        set={"given_name": decomposed, "sn": "Cornish"},
        before={"given_name": composed, "sn": "Cornysh"},
    )
    assert change_line(change) == (
        f"update  1001  given_name: {composed} → {decomposed} (the same text in another "
        "Unicode form: NFD), sn: Cornysh → Cornish"
    )
