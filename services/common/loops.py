"""Background loops that stop when asked, even when a library lost the request.

A loop catches the errors of its step and goes on; the host stops it by cancelling its
task. On Python 3.11 `asyncio.wait_for` (which NATS clients use for every request) can
swallow that cancellation when its own wait ends at the same moment: the step returns
normally, and a loop that then sleeps would run on until the process ends. The task
still counts the request (`Task.cancelling()`): a loop that waits with `idle` ends.
"""

from __future__ import annotations

import asyncio


async def idle(seconds: float) -> None:
    """Sleep `seconds` — or, if this task has been asked to stop, stop it now."""
    task = asyncio.current_task()
    if task is not None and task.cancelling() > 0:
        raise asyncio.CancelledError
    await asyncio.sleep(seconds)
