"""Event ids and subjects: made by schemas/event_ids.py and schemas/subjects.py alone.

An event's id is its Nats-Msg-Id: a fact published twice (a retry, a runner that came
back, two schedulers, two versions during an upgrade) must get the same id to be stored
once, so the ids below are a format that never changes.
"""

from __future__ import annotations

import re
from pathlib import Path

from schemas import event_ids as ids
from schemas.work import WorkBatch

ROOT = Path(__file__).resolve().parents[2]
RUN = "20261121T204800Z-3f9a1c"
HASH = "0123456789abcdef0123456789abcdef"


def test_each_kind_of_id_keeps_its_format() -> None:
    assert [
        ids.requested_id(RUN),
        ids.approved_id(RUN),
        ids.approved_id(RUN, HASH),
        ids.awaiting_id(RUN),
        ids.awaiting_id(RUN, HASH),
        ids.denied_id(RUN),
        ids.expired_id(RUN),
        ids.started_id(f"{RUN}.approved", 2),
        ids.planned_id(RUN, HASH),
        ids.planning_failed_id(f"{RUN}.approved", 7, 2),
        ids.planning_dead_id(f"{RUN}.approved"),
        ids.record_errors_id(RUN, HASH, None, 2),
        ids.record_errors_id(RUN, HASH, 3, 2),
        ids.work_id(RUN, HASH, 3),
        ids.batch_applied_id(RUN, HASH, 3),
        ids.batch_failed_id(RUN, HASH, 3, 7, 2),
        ids.batch_dead_id(RUN, HASH, 3),
        ids.batch_dropped_id(RUN, HASH, 3),
        ids.passwords_sealed_id(RUN, HASH, 3),
        ids.finished_id(RUN),
        ids.failed_id(RUN),
        ids.cancelled_id(RUN),
        ids.notify_failed_id(f"{RUN}.finished", "1"),
        ids.retried_id(f"{RUN}.0123456789abcdef.3", 12),
    ] == [
        f"{RUN}.requested",
        f"{RUN}.approved",
        f"{RUN}.approved.0123456789abcdef",
        f"{RUN}.awaiting",
        f"{RUN}.awaiting.0123456789abcdef",
        f"{RUN}.denied",
        f"{RUN}.expired",
        f"{RUN}.approved.started.2",
        f"{RUN}.planned.0123456789abcdef",
        f"{RUN}.approved.failed.7.2",
        f"{RUN}.approved.dead",
        f"{RUN}.0123456789abcdef.errors.2",
        f"{RUN}.0123456789abcdef.batch.3.errors.2",
        f"{RUN}.0123456789abcdef.3",
        f"{RUN}.0123456789abcdef.batch.3",
        f"{RUN}.0123456789abcdef.failed.3.7.2",
        f"{RUN}.0123456789abcdef.dead.3",
        f"{RUN}.0123456789abcdef.dropped.3",
        f"{RUN}.passwords.0123456789abcdef.3",
        f"{RUN}.finished",
        f"{RUN}.failed",
        f"{RUN}.cancelled",
        f"{RUN}.finished.notify-failed.1",
        f"{RUN}.0123456789abcdef.3.retry.12",
    ]


def test_a_batch_on_the_work_queue_is_deduplicated_by_its_plan_and_number() -> None:
    batch = WorkBatch(run_id=RUN, job_id="hr", plan_hash=HASH, phase=0, number=3, changes=[])
    assert batch.msg_id == ids.work_id(RUN, HASH, 3)


# An id or a subject written out in code: `id=f"…"`, a `Nats-Msg-Id` assembled in place,
# a string starting with one of idsync's subject families.
_BY_HAND = [
    re.compile(r"\bid=f[\"']"),
    re.compile(r"\[[\"']Nats-Msg-Id[\"']\]\s*=\s*f[\"']"),
    re.compile(r"f?[\"']idsync\.(run|job|cmd|work)[.>*]"),
]


def test_no_event_id_or_subject_is_built_by_hand() -> None:
    found = []
    for folder in ("services", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if any(pattern.search(line) for pattern in _BY_HAND):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == [], "use schemas/event_ids.py and schemas/subjects.py:\n" + "\n".join(found)
