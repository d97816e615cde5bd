"""Generated passwords, sealed to the notifier's public key (libsodium sealed boxes).

The runner that makes a password seals it at once, with the run, job, record key and
field it belongs to, and publishes only the sealed text (`run.passwords-sealed`).
Only the notifier's private key opens it: not the runner itself, not the journal's
readers. Binding the sealed text to its record means a sealed value copied into
another event is refused rather than mailed as someone else's password.

The notifier puts its public key in the `idsync_keys` bucket at start; runners read it
from there (`notifier_public_key`).
"""

from __future__ import annotations

import base64

import msgspec
import nats.js.errors
from nacl.public import PublicKey, SealedBox
from nats.js import JetStreamContext

from .jetstream import KEYS_BUCKET

NOTIFIER_KEY = "notifier"
"""The key of the notifier's public key in KEYS_BUCKET (base64 of its 32 bytes)."""


class SealedPayload(msgspec.Struct, frozen=True, kw_only=True):
    """What a sealed box holds: the password and the record it was made for."""

    run_id: str
    job_id: str
    key: str
    field: str
    password: str

    def __repr__(self) -> str:  # never shown by accident in a log or a traceback
        return f"SealedPayload(run_id={self.run_id!r}, key={self.key!r}, field={self.field!r})"


_encoder = msgspec.json.Encoder()


def seal(public_key: bytes, payload: SealedPayload) -> str:
    """The payload sealed to `public_key` (raw 32 bytes), as base64 text."""
    box = SealedBox(PublicKey(public_key))
    return base64.b64encode(box.encrypt(_encoder.encode(payload))).decode("ascii")


async def notifier_public_key(js: JetStreamContext) -> bytes | None:
    """The notifier's public key, or None while no notifier has started."""
    try:
        entry = await (await js.key_value(KEYS_BUCKET)).get(NOTIFIER_KEY)
    except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
        return None
    return base64.b64decode(entry.value) if entry.value else None
