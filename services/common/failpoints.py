"""Failpoints: named places where a process can be made to die, for crash tests.

`IDSYNC_FAILPOINTS="after-write:3,after-plan"` makes the process kill itself with
SIGKILL the 3rd time it passes `after-write` and the first time it passes
`after-plan` — exactly as a crash would, with no cleanup. Unset (always, outside
tests), a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

from .settings import armed_failpoints

_counts: dict[str, int] = {}
_ARMED = armed_failpoints()


def failpoint(name: str) -> None:
    """Die here if this failpoint is armed and this is the pass it is armed for."""
    if name not in _ARMED:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == _ARMED[name]:
        os.kill(os.getpid(), signal.SIGKILL)
