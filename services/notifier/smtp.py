"""Sending a mail over SMTP: the stdlib's smtplib, in a thread so the loop never blocks.

One connection per mail: notifications are few, and a connection kept open would
only go stale between runs. A server that does not answer, or answers "try later"
(4xx), raises `Transient`, so the delivery wrapper retries with a growing delay; a
server that refuses every recipient for good (5xx) raises `Undeliverable`, which no
retry would change.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

import msgspec

from core.checks.addresses import BadAddress, parse_address
from core.errors import BadInput, Transient
from schemas.connections import SecretRef
from services.common.secrets import resolve_secret
from services.common.settings import Settings

TIMEOUT = 30.0
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class Undeliverable(BadInput):
    """The server refused the mail for good (e.g. every recipient unknown)."""


class SmtpConfig(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    port: int
    security: Literal["none", "starttls", "tls"]
    sender: Address
    user: str | None = None
    password: SecretRef | None = None
    """Where the password is read from, at each connection; never the password itself."""
    ca_file: Path | None = None
    verify: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig | None:
        """The mail server to use; None without IDSYNC_SMTP_HOST. BadInput names the
        variable to fix."""
        if not settings.smtp_host:
            return None
        env, file = settings.smtp_password_env, settings.smtp_password_file
        if env and file:
            raise BadInput("set IDSYNC_SMTP_PASSWORD_ENV or IDSYNC_SMTP_PASSWORD_FILE, not both")
        password = SecretRef(env=env, file=str(file) if file else None) if env or file else None
        if password is not None and not settings.smtp_user:
            raise BadInput("a mail server password is set but no IDSYNC_SMTP_USER to log in as")
        if settings.smtp_user and password is None:
            raise BadInput(
                "IDSYNC_SMTP_USER is set: name its password with IDSYNC_SMTP_PASSWORD_ENV "
                "(a variable's name) or IDSYNC_SMTP_PASSWORD_FILE (a file)"
            )
        if password is not None:
            resolve_secret(password, "IDSYNC_SMTP_PASSWORD_*")  # fails now, not at the first mail
        ca_file = settings.smtp_ca_file
        if ca_file is not None and not ca_file.is_file():
            raise BadInput(f"IDSYNC_SMTP_CA_FILE: {ca_file} is not a file")
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port or DEFAULT_PORTS[settings.smtp_security],
            security=settings.smtp_security,
            sender=_sender(settings.mail_from),
            user=settings.smtp_user,
            password=password,
            ca_file=ca_file,
            verify=settings.smtp_verify,
        )

    @property
    def where(self) -> str:
        return f"mail server {self.host}:{self.port} ({self.security})"


def _sender(mail_from: str | None) -> Address:
    if mail_from is None:
        return Address(display_name="idsync", username="idsync", domain=socket.getfqdn())
    try:
        return parse_address(mail_from)
    except BadAddress as error:
        raise BadInput(f"IDSYNC_MAIL_FROM: {error}") from None


async def send(config: SmtpConfig, msg: EmailMessage, to: list[str]) -> dict[str, str]:
    """Send `msg` to the addresses `to`; the recipients the server refused (some were
    accepted), with its answer. Raises Transient or Undeliverable."""
    return await asyncio.to_thread(_send, config, msg, to)


def _send(config: SmtpConfig, msg: EmailMessage, to: list[str]) -> dict[str, str]:
    try:
        with _connect(config) as server:
            if config.user and config.password is not None:
                server.login(config.user, resolve_secret(config.password, "SMTP password"))
            refused = server.send_message(msg, from_addr=config.sender.addr_spec, to_addrs=to)
    except smtplib.SMTPRecipientsRefused as error:
        answers = {rcpt: _answer(code, text) for rcpt, (code, text) in error.recipients.items()}
        if all(code >= 500 for code, _ in error.recipients.values()):
            raise Undeliverable(f"{config.where} refused every recipient: {answers}") from None
        raise Transient(f"{config.where} deferred the recipients: {answers}") from None
    except smtplib.SMTPResponseException as error:
        raise Transient(f"{config.where}: {_answer(error.smtp_code, error.smtp_error)}") from None
    except (smtplib.SMTPException, OSError) as error:  # ssl.SSLError is an OSError
        raise Transient(f"{config.where}: {error or type(error).__name__}") from None
    return {rcpt: _answer(code, text) for rcpt, (code, text) in refused.items()}


def _connect(config: SmtpConfig) -> smtplib.SMTP:
    if config.security == "tls":
        return smtplib.SMTP_SSL(config.host, config.port, timeout=TIMEOUT, context=_tls(config))
    server = smtplib.SMTP(config.host, config.port, timeout=TIMEOUT)
    try:
        if config.security == "starttls":
            server.starttls(context=_tls(config))
    except BaseException:
        server.close()
        raise
    return server


def _tls(config: SmtpConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    if not config.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _answer(code: int, text: bytes | str) -> str:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {said}"
