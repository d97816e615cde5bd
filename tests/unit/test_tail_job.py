"""`idsync tail --job JOB` of a name no job can have: said so, before connecting (it said
"NATS: nats: invalid subject", or followed nothing for a name with `.` or `>`)."""

from __future__ import annotations

import argparse
import re

import pytest

from core.errors import BadInput
from services.cli import tail as tail_command


@pytest.mark.parametrize("job", ["a b", "hr.>", "HR-to-db", "../x"])
async def test_tail_of_a_job_id_that_cannot_be_one_says_what_a_job_id_is(
    job: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def connect(*args: object, **kwargs: object) -> None:
        raise AssertionError("it connected")

    monkeypatch.setattr(tail_command, "connect", connect)
    args = argparse.Namespace(job=job, json=False, settings=None)
    with pytest.raises(BadInput, match=re.escape(f"no job {job!r}: a job id is a slug")):
        await tail_command.tail(args)
