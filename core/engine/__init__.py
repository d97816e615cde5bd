"""The pure engine: map records, plan changes, cut plans into batches.

No I/O, no asyncio, no messaging: functions of records and a job's mapping only.
"""

from .batching import change_size, split_batches
from .containers import CONTAINER_FIELD, container_of, dn_depth, with_container
from .keys import DuplicateKey, display_key, match_key
from .mapping import (
    destination_multi_valued,
    managed_fields,
    map_record,
    source_multi_valued,
)
from .phases import ACTION_ORDER, CONTAINER_TYPE, PHASE_OF, PHASES, phase_of
from .plan import Plan, plan, plan_hash
from .policies import resolved
from .safety import TypeRecords, assess, assess_types, limit
from .simulate import apply_to

__all__ = [
    "ACTION_ORDER",
    "CONTAINER_FIELD",
    "CONTAINER_TYPE",
    "PHASES",
    "PHASE_OF",
    "DuplicateKey",
    "Plan",
    "TypeRecords",
    "apply_to",
    "assess",
    "assess_types",
    "change_size",
    "container_of",
    "destination_multi_valued",
    "display_key",
    "dn_depth",
    "limit",
    "managed_fields",
    "map_record",
    "match_key",
    "phase_of",
    "plan",
    "plan_hash",
    "resolved",
    "source_multi_valued",
    "split_batches",
    "with_container",
]
