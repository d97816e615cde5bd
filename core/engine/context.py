"""What a run knows that a job file does not: its ids, its clock and its environment.

Built once per run by whoever starts the mapping (the runner, a preview, a check), so
the engine itself never reads a clock or `os.environ` and stays a pure function of
its inputs.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec


class MappingContext(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    run_id: str
    now: datetime
    """When the run started (UTC): %NOW% and %TODAY% are the same for every record."""
    environment: dict[str, str] | None = None
    """The variables %ENV:NAME% may read. None while a job is only checked (the runner's
    environment is unknown then): every %ENV:NAME% is accepted and reads as ""."""

    @classmethod
    def checking(cls, job_id: str) -> MappingContext:
        """The context used to check a job when it is applied, before any run."""
        return cls(job_id=job_id, run_id="", now=datetime(2000, 1, 1, tzinfo=UTC))
