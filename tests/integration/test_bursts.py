"""Another system's run requests, merged in bursts (services/workflow/bursts.py): merged
only as far as one run's request fits in a message — requests naming more keys together
than that are several runs, each of which runs."""

from __future__ import annotations

import msgspec

from schemas.events import RunRequested
from services.cli.client import Session, connect
from services.common import users
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices, apply_files
from .test_claims import finished, many_keys


async def test_a_systems_requests_too_many_keys_for_one_run_together_are_several_runs(
    files: Files, services: RunServices, session: Session, settings: Settings
) -> None:
    files.write(count=3)
    users.add_person(settings.home, "crm", [], system=True)
    asked = [many_keys("a"), many_keys("b"), ["E00001"]]
    async with (
        services("workflow", "runner"),
        connect(msgspec.structs.replace(settings, principal="crm")) as crm,
    ):
        await apply_files(session, files)
        run_ids = [await crm.request_run(JOB_ID, keys=keys) for keys in asked]
        # The first two cannot be one run; the third merges with the second.
        assert run_ids[0] != run_ids[1] == run_ids[2], run_ids
        ends = [await finished(session, r) for r in dict.fromkeys(run_ids)]
        journal = await session.journal()
    requests = {e.run_id: e for e in journal if isinstance(e, RunRequested)}
    assert set(requests) == set(run_ids) and len(ends) == 2
    assert requests[run_ids[0]].keys == asked[0]
    assert requests[run_ids[1]].keys == asked[1] + asked[2]
    assert all(r.requested_by == "crm" and r.trigger == "external" for r in requests.values())
