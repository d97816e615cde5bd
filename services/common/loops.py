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
    stop_if_asked()
    await asyncio.sleep(seconds)


def stop_if_asked() -> None:
    """If this task has been asked to stop, stop it now: for a loop that waits on a
    queue with `asyncio.wait_for` (an event that comes as Ctrl-C does takes the place of
    the cancellation), before it waits again."""
    task = asyncio.current_task()
    if task is not None and task.cancelling() > 0:
        raise asyncio.CancelledError
