"""Runs' log lines into the history: each batch a service published
(services/common/run_logs.py) becomes rows of `log_lines`, keyed by the process that
logged them, its batch number and the line's place — a batch delivered again writes
the same rows again."""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.logs import LogBatch, LogLine

from .database import Database, upsert

DROPPED = "log lines dropped: the logging process's buffer was full, or NATS refused them"
_fields = msgspec.json.Encoder()
_decode_fields = msgspec.json.Decoder(dict[str, str])
INSERT = upsert(
    "log_lines",
    "run_id, source, batch, n, job_id, at, level, service, runner, event, fields",
    "run_id, source, batch, n",
)
COLUMNS = "at, level, service, runner, event, fields"


def rows_of(batch: LogBatch) -> list[tuple[Any, ...]]:
    lines = list(batch.lines)
    if batch.dropped:
        last = lines[-1] if lines else None
        lines.append(
            LogLine(
                at=last.at if last is not None else "",
                level="warning",
                event=DROPPED,
                runner=last.runner if last is not None else "",
                fields={"dropped": str(batch.dropped)},
            )
        )
    return [
        (
            batch.run_id,
            batch.source,
            batch.number,
            n,
            batch.job_id,
            line.at,
            line.level,
            line.service,
            line.runner,
            line.event,
            _fields.encode(line.fields).decode(),
        )
        for n, line in enumerate(lines)
    ]


async def keep(db: Database, batch: LogBatch) -> None:
    """Write the batch's lines in one transaction."""
    async with db.transaction():
        await db.executemany(INSERT, rows_of(batch))


def log_line(row: tuple[Any, ...]) -> LogLine:
    at, level, service, runner, event, fields = row
    return LogLine(
        at=at,
        level=level,
        service=service,
        runner=runner,
        event=event,
        fields=_decode_fields.decode(fields),
    )
