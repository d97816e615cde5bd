"""A value with spaces at its start or end (a key typed " 1010 " in a CSV cell) is shown
in double quotes wherever people read values — a plan's lines, tables such as `run
review`'s and `history`'s, samples — so that `1010 → " 1010 "` is not `1010 →  1010`.
Exports keep the value as it is."""

from __future__ import annotations

import io
from typing import cast

import pytest

from core.engine.plan import Plan
from core.engine.report import rows
from core.engine.samples import Sample
from schemas.jobs import Endpoint, Job, ObjectMapping
from schemas.plan import Change, PlanCounts
from services.cli.output import print_table, shown_value
from services.cli.preview import preview_text
from services.cli.samples import print_sample
from services.common.store import Store
from services.runner.planning import PlannedRun


def test_spaces_at_the_ends_are_quoted_and_other_values_left_alone() -> None:
    assert shown_value(" 1010 ") == '" 1010 "'
    assert shown_value("1010\u00a0") == "1010\\u00a0"  # a no-break space, spelled out
    assert shown_value("   ") == '"   "'
    assert shown_value("Jean Dupont") == "Jean Dupont"
    assert shown_value("") == ""
    assert shown_value(" a\nb") == '" a\\nb"'


def test_a_table_quotes_a_cell_with_spaces_at_its_ends() -> None:
    out = io.StringIO()
    print_table([["E1", "1010", " 1010 ", "applied"]], ["KEY", "OLD", "NEW", "OUTCOME"], out)
    assert out.getvalue().splitlines()[1] == 'E1   1010  " 1010 "  applied'


async def test_a_plan_shows_the_spaces_of_a_key_and_a_value() -> None:
    job = Job(
        id="hr",
        source=Endpoint(connection="files", file="hr.csv"),
        destination=Endpoint(connection="db", table="people"),
        objects=[ObjectMapping(keys=["uid"])],
    )
    update = Change(
        action="update",
        key=" 1010 ",
        match={"uid": " 1010 "},
        set={"badge": " 1010 ", "groups": ["staff ", "hr"]},
        before={"badge": "1010"},
    )
    plan = Plan(changes=[update], counts=PlanCounts(update=1), hash="0" * 64)
    planned = PlannedRun(plan=plan, source_records=1, destination_records=1)
    text = await preview_text(cast(Store, None), job, planned, 20)
    assert text.splitlines()[2] == (
        '  update  " 1010 "  badge: 1010 → " 1010 ", groups: ∅ → "staff "; hr'
    )
    # An export holds the value as it is.
    (badge, _groups) = rows([update])
    assert (badge.key, badge.new_value) == (" 1010 ", " 1010 ")


def test_a_sample_shows_the_spaces_of_what_the_source_holds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_sample(
        1,
        Sample(object_type="user", source={"id": " 1010 "}, mapped={"uid": "1010", "tags": [" a"]}),
    )
    assert capsys.readouterr().out.splitlines()[1:] == [
        '#1  id=" 1010 "',
        "  → uid   1010",
        '  → tags  [" a"]',
    ]
