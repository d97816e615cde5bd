"""`idsync collection preview`: each job's plan with every count — a step that moves
its leavers does not read as a step that does nothing — and its failed records."""

from __future__ import annotations

from schemas.plan import PlanCounts
from services.cli.collection import PreviewStep, preview_table


def test_each_step_shows_every_count_and_its_failed_records() -> None:
    rows, header = preview_table(
        [
            PreviewStep(1, "hr-to-dir", PlanCounts(move=30, unchanged=220), 0, "d26f8dab44a8ff"),
            PreviewStep(2, "hr-groups", PlanCounts(unchanged=10, skipped=250), 1, "6d2ba50c69ff00"),
        ]
    )
    table = [dict(zip(header, row, strict=True)) for row in rows]
    assert table[0]["MOVE"] == "30" and table[0]["UNCHANGED"] == "220"
    assert table[0]["PLAN"] == "d26f8dab44a8"
    assert table[1]["SKIPPED"] == "250" and table[1]["FAILED"] == "1"
    assert set(header) >= {"CREATE", "UPDATE", "DELETE", "DISABLE", "ENABLE"}
