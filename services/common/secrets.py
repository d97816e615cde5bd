"""Secrets are references (an environment variable or a file), read when they are needed.

A resolved secret lives only as long as the call that uses it: it is never stored in
a bucket, an event or a log line, and errors name the reference, never the value.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import BadInput
from schemas.connections import SecretRef


def resolve_secret(ref: SecretRef, what: str) -> str:
    """The secret `ref` points at; `what` names it in errors ("connection dir: password")."""
    if (ref.env is None) == (ref.file is None):
        raise BadInput(f'{what}: expected exactly one of env = "VAR" or file = "path"')
    if ref.env is not None:
        # Not a setting: the variable a definition names as holding a secret.
        value = os.environ.get(ref.env)
        if value is None:
            raise BadInput(f"{what}: environment variable {ref.env} is not set")
        return value
    path = Path(ref.file or "")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{what}: file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{what}: cannot read file {path} ({getattr(e, 'strerror', e)})") from None
    # Files written by `echo` or an editor end with a newline that is not part of the secret.
    return text.removesuffix("\n").removesuffix("\r")
