"""The change report a mail carries: the run's stored plan as CSV or XLSX.

The rows and the files are the ones `idsync job preview --export` makes
(engine/report.py, common/report_writer.py): one row per changed field, cells a spreadsheet
would run as formulas escaped. The plan comes from the object store, where the runner
keeps the plan it applies; a plan waiting for approval and a staging run's plan are
not kept there, and the mail says so instead of attaching one.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nats.js.errors

from core.engine.report import PlanReport, Row, rows
from core.runs import RunStory
from schemas.plan import PlanCounts
from schemas.work import StoredPlan
from services.common.bus import Bus
from services.common.report_writer import write_report
from services.common.stored_plans import changes_of, load_plan

from .compose import Attachment

MAX_ROWS = 100_000
"""A larger report is cut: mail servers refuse messages of tens of megabytes."""
_TYPES = {
    "csv": ("text", "csv"),
    "xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


async def change_reports(
    bus: Bus, run: RunStory, formats: Sequence[str]
) -> tuple[list[Attachment], list[str]]:
    """The reports in `formats`, and notes for the mail (what is attached, or why not)."""
    if not formats:
        return [], []
    plan = await _stored_plan(bus, run)
    if plan is None:
        why = (
            "a staging run's plan is not kept"
            if run.staged
            else "the plan is kept only once a run applies it"
            if run.state == "awaiting approval"
            else "the run has no stored plan (it ended before planning, or the plan expired)"
        )
        return [], [
            f"No change report is attached: {why}. `idsync job preview {run.job_id}` "
            "shows the job's plan as it stands now."
        ]
    report = await _report(bus, run, plan)
    files = [await asyncio.to_thread(_render, report, run, kind) for kind in formats]
    notes = [f"The change report is attached: {', '.join(f.filename for f in files)}."]
    if report.warnings:
        notes += report.warnings
    return files, notes


async def _stored_plan(bus: Bus, run: RunStory) -> StoredPlan | None:
    if run.staged or not run.plan_hash:
        return None
    try:
        plan = await load_plan(bus, run.run_id)
    except nats.js.errors.NotFoundError:
        return None
    # A re-planned run keeps its last plan: a report of an earlier one would mislead.
    return plan if plan.plan_hash == run.plan_hash else None


async def _report(bus: Bus, run: RunStory, plan: StoredPlan) -> PlanReport:
    found: list[Row] = []
    async for change in changes_of(bus, plan):  # a batch read at a time
        found.extend(rows([change]))
        if len(found) > MAX_ROWS:
            break
    warnings = []
    if len(found) > MAX_ROWS:
        found = found[:MAX_ROWS]
        warnings.append(f"The report holds the first {MAX_ROWS:,} rows of the plan only.")
    return PlanReport(
        job_id=run.job_id,
        plan_hash=plan.plan_hash,
        counts=run.planned or PlanCounts(),
        source_records=run.source_records,
        destination_records=run.destination_records,
        rows=found,
        warnings=warnings,
    )


def _render(report: PlanReport, run: RunStory, kind: str) -> Attachment:
    """The report written as a preview export would be, read back as bytes."""
    name = f"{run.job_id}-{run.run_id}-changes.{kind}"
    with tempfile.TemporaryDirectory(prefix="idsync-mail-") as folder:
        path = Path(folder) / name
        write_report(report, path, kind)
        content = path.read_bytes()
    maintype, subtype = _TYPES[kind]
    charset = "utf-8" if maintype == "text" else None  # the CSV starts with a UTF-8 BOM
    return Attachment(
        filename=name, content=content, maintype=maintype, subtype=subtype, charset=charset
    )
