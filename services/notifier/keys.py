"""The notifier's key pair: the private key in a file only its user can read, the public
key in the `idsync_keys` bucket for runners to seal generated passwords to."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

import msgspec
import nats.js.errors
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox
from nats.js import JetStreamContext

from core.errors import BadInput
from schemas.events import RunPasswordsSealed, SealedPassword
from services.common.jetstream import KEYS_BUCKET
from services.common.logging import get_logger
from services.common.sealing import NOTIFIER_KEY, SealedPayload
from services.common.settings import Settings

KEY_FILE = "notifier.key"
log = get_logger("idsync.notifier")
_decoder = msgspec.json.Decoder(SealedPayload)


class Unopened(ValueError):
    """A sealed password this notifier cannot mail; the message never holds the password."""


def key_path(settings: Settings) -> Path:
    return settings.notifier_key_file or settings.home / KEY_FILE


def load_or_create(path: Path) -> PrivateKey:
    """The private key in `path`, made there (mode 0600) on the first start."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        key = PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two notifiers starting at once never overwrite each other's key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(base64.b64encode(bytes(key)).decode("ascii") + "\n")
        log.info("notifier key pair made", private_key=str(path))
        return key
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"{path}: cannot read the notifier's private key ({error})") from None
    try:
        return PrivateKey(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError, TypeError):
        raise BadInput(
            f"{path}: not a notifier key (base64 of 32 bytes); move it away and the notifier "
            "makes a new one at its next start (passwords sealed to the old key are lost)"
        ) from None


async def publish_public_key(js: JetStreamContext, key: PrivateKey) -> None:
    """Put the public key where runners find it; warn when another key is there already."""
    kv = await js.key_value(KEYS_BUCKET)
    public = base64.b64encode(bytes(key.public_key))
    try:
        await kv.create(NOTIFIER_KEY, public)
        return
    except nats.js.errors.KeyWrongLastSequenceError:
        pass  # already there: ours after a restart, or another notifier's
    entry = await kv.get(NOTIFIER_KEY)
    if entry.value != public:
        log.error(
            "another notifier's public key is published: passwords sealed to it cannot be "
            "opened here; give every notifier the same IDSYNC_NOTIFIER_KEY_FILE"
        )


def open_sealed(key: PrivateKey, event: RunPasswordsSealed, item: SealedPassword) -> str:
    """The password in `item`, if it was sealed to `key` for this very run and record."""
    try:
        plain = SealedBox(key).decrypt(base64.b64decode(item.sealed, validate=True))
        payload = _decoder.decode(plain)
    except (binascii.Error, ValueError, CryptoError, msgspec.DecodeError):
        raise Unopened("cannot be opened with this notifier's key") from None
    made_for = (payload.run_id, payload.job_id, payload.key, payload.field)
    if made_for != (event.run_id, event.job_id, item.key, item.field):
        raise Unopened("was sealed for another run or record")
    return payload.password
