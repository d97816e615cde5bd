"""Who a process is on NATS: a user name and password, found without guessing.

Each service and each person is a user of the server (see access.py). A process finds
its credentials, in this order:

1. IDSYNC_NATS_CREDENTIALS: a file holding `{"user": …, "password": …}`;
2. IDSYNC_NATS_USER with IDSYNC_NATS_PASSWORD;
3. the file `idsync up` wrote under IDSYNC_HOME/credentials — `services/<name>.json`
   for a service, `people/<principal>.json` for a person;
4. none: the server must then allow anonymous clients (the tests' own servers do).

Files are written readable by their owner only (0600), in a folder only the owner
may enter (0700): a password in clear lives nowhere else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from core.errors import BadInput

from .settings import Settings

if TYPE_CHECKING:
    import ssl

CREDENTIALS_DIR = "credentials"


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    user: str
    password: str = msgspec.field(default="")

    def __repr__(self) -> str:  # never print a password by accident
        return f"Credentials(user={self.user!r})"


_decoder = msgspec.json.Decoder(Credentials)


def new_password() -> str:
    import secrets

    return secrets.token_urlsafe(24)


def inbox_prefix(user: str) -> str:
    """Where a person's replies come: an inbox of their own, the only one they may read
    (access.py)."""
    return f"_INBOX_{user}"


def service_file(home: Path, service: str) -> Path:
    return home / CREDENTIALS_DIR / "services" / f"{service}.json"


def person_file(home: Path, principal: str) -> Path:
    return home / CREDENTIALS_DIR / "people" / f"{principal}.json"


def write_credentials(path: Path, credentials: Credentials) -> None:
    """Write the file for its owner's eyes only: created 0600, never widened."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for folder in (path.parent, path.parent.parent):
        folder.chmod(0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(msgspec.json.encode(credentials))
    path.chmod(0o600)


def read_credentials(path: Path) -> Credentials:
    try:
        return _decoder.decode(path.read_bytes())
    except OSError as error:
        raise BadInput(f"cannot read the NATS credentials in {path}: {error.strerror}") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise BadInput(
            f'{path}: expected {{"user": "…", "password": "…"}} (NATS credentials), {error}'
        ) from None


def from_environment(settings: Settings) -> Credentials | None:
    """IDSYNC_NATS_CREDENTIALS, else IDSYNC_NATS_USER and IDSYNC_NATS_PASSWORD."""
    if settings.nats_credentials is not None:
        return read_credentials(settings.nats_credentials)
    user, password = settings.nats_user, settings.nats_password
    if not user:
        return None
    if password is None:
        raise BadInput(
            "IDSYNC_NATS_USER is set without IDSYNC_NATS_PASSWORD: set both, or point "
            "IDSYNC_NATS_CREDENTIALS at a credentials file"
        )
    return Credentials(user=user, password=password)


def for_service(settings: Settings, service: str) -> Credentials | None:
    found = from_environment(settings)
    if found is not None:
        return found
    path = service_file(settings.home, service)
    return read_credentials(path) if path.is_file() else None


def for_person(settings: Settings) -> Credentials | None:
    found = from_environment(settings)
    if found is not None:
        return found
    path = person_file(settings.home, settings.principal)
    return read_credentials(path) if path.is_file() else None


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """A context trusting IDSYNC_NATS_CA_FILE, for servers whose certificate the system's
    CAs do not vouch for; None leaves nats-py's default (tls:// URLs use the system's)."""
    if settings.nats_ca_file is None:
        return None
    import ssl

    context = ssl.create_default_context(cafile=str(settings.nats_ca_file))
    return context
