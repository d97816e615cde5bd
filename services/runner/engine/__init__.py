"""The pure engine: map records, plan changes, cut plans into batches.

No I/O, no asyncio, no messaging: functions of records and a job's mapping only.
"""

from .batching import PHASE_OF, change_size, split_batches
from .mapping import (
    destination_multi_valued,
    managed_fields,
    map_record,
    source_multi_valued,
)
from .plan import (
    ACTION_ORDER,
    DuplicateKey,
    Plan,
    apply_to,
    display_key,
    match_key,
    plan,
    plan_hash,
)

__all__ = [
    "ACTION_ORDER",
    "PHASE_OF",
    "DuplicateKey",
    "Plan",
    "apply_to",
    "change_size",
    "destination_multi_valued",
    "display_key",
    "managed_fields",
    "map_record",
    "match_key",
    "plan",
    "plan_hash",
    "source_multi_valued",
    "split_batches",
]
