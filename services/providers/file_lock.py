"""One writer at a time in a folder of files, across the threads and processes of this
machine: a file destination loads its file, changes it and renames the new one over it,
and two batches doing so at once would each lose the other's rows."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on `folder` for the block (flock on a descriptor of its own: two
    threads of one process exclude each other too). Blocking: call it from a thread."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
