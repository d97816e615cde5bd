"""Whether a folder takes new files: asked of the file system itself, by creating an
empty file there and removing it.

`os.access` answers for the permission bits alone, and for root it says yes where the
kernel still refuses (an immutable folder, a root-squashed network share). A file
destination writes beside its target — SQLite its journal, CSV a temporary file that
replaces the old one — so the folder is what must take files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path


def cannot_create_in(folder: Path) -> str | None:
    """None when a new file can be made in `folder`; else why not, in the system's words.

    Where the file system makes unnamed files (Linux's O_TMPFILE), the check leaves no
    name behind even if the process is killed during it; elsewhere a hidden file is made
    and removed at once."""
    if hasattr(os, "O_TMPFILE"):
        try:
            os.close(os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600))
            return None
        except OSError as error:
            if error.errno not in _NO_UNNAMED_FILES:
                return error.strerror or str(error)
    try:
        handle, name = tempfile.mkstemp(prefix=".idsync-write-check-", dir=folder)
    except OSError as error:
        return error.strerror or str(error)
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None


_NO_UNNAMED_FILES = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL}
"""What a file system without O_TMPFILE answers (the check then names a file)."""
