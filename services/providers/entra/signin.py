"""Signing in to Microsoft Entra ID as the app: msal's confidential client, client
credentials grant, with a secret or a certificate (read from their references when the
app is first made, never kept in a log or an error).

msal keeps the token and asks for a new one when less than five minutes of it are left;
one app per connection serves a whole process, so every batch a runner applies reuses
the token. msal is synchronous: every call runs in a worker thread. The authority may be
a national cloud's or any server's (the tests'): msal's instance discovery, which only
knows Microsoft's hosts, is turned off and the authority's own OpenID document is read.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from typing import Any

from core.errors import BadInput, Unreachable
from schemas.connections import EntraConnection
from services.common.secrets import resolve_secret

SCOPE = ".default"
_apps: dict[tuple[str, ...], Any] = {}
_lock = threading.Lock()

# AADSTS codes people meet, and what to do about each.
_HINTS = {
    7000215: "the client secret is wrong; check the secret the connection points at "
    "(the secret's value, not its id)",
    7000222: "the client secret has expired; make a new one in the app registration",
    700016: "no app with this client_id in the tenant; check client_id and tenant, and that "
    "an administrator consented",
    90002: "no such tenant; check tenant (its id or one of its domains) and the authority",
    700027: "the certificate was refused; upload its public part to the app registration",
    7000112: "the app is disabled in the tenant",
    1002012: "the scope was refused",
}


class _Http:
    """requests for msal, with our certificate authorities passed on every request (a
    session's `verify` loses to REQUESTS_CA_BUNDLE when that is set)."""

    def __init__(self, verify: str | bool, timeout: float) -> None:
        import requests

        self.session = requests.Session()
        self.verify, self.timeout = verify, timeout

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.session.get(url, verify=self.verify, timeout=self.timeout, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.session.post(url, verify=self.verify, timeout=self.timeout, **kwargs)

    def close(self) -> None:
        self.session.close()


def _where(connection: EntraConnection) -> str:
    return f"entra connection {connection.id!r}"


def _credential(connection: EntraConnection) -> Any:
    where = _where(connection)
    if connection.certificate is not None:
        pem = resolve_secret(connection.certificate, f"{where}: certificate")
        from cryptography import x509

        certificates = re.findall(
            r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S
        )
        if not certificates or "PRIVATE KEY-----" not in pem:
            raise BadInput(
                f"{where}: certificate: expected a PEM file holding the certificate and its "
                "private key"
            )
        x509.load_pem_x509_certificate(certificates[0].encode())
        return {"private_key": pem, "public_certificate": certificates[0]}
    if connection.secret is None:
        raise BadInput(
            f'{where}: expected secret = {{ env = "VAR" }} or certificate = {{ file = "app.pem" }}'
        )
    return resolve_secret(connection.secret, f"{where}: secret")


def _app(connection: EntraConnection) -> Any:
    import msal  # type: ignore[import-untyped]

    credential = _credential(connection)
    digest = hashlib.sha256(repr(credential).encode()).hexdigest()
    authority = f"{connection.authority.rstrip('/')}/{connection.tenant}"
    key = (authority, connection.client_id, digest, connection.ca_file or "")
    with _lock:
        if key in _apps:
            return _apps[key]
    try:
        app = msal.ConfidentialClientApplication(
            connection.client_id,
            client_credential=credential,
            authority=authority,
            instance_discovery=False,
            http_client=_Http(connection.ca_file or True, connection.limits.timeout),
        )
    except ValueError as e:
        raise BadInput(
            f"{_where(connection)}: {authority} has no OpenID configuration: no such tenant, or "
            f"not an authority; check tenant and authority ({_short(str(e))})"
        ) from None
    except OSError as e:  # requests' connection errors
        raise Unreachable(
            f"{_where(connection)}: {authority} did not answer ({_short(str(e))})"
        ) from None
    with _lock:
        return _apps.setdefault(key, app)


def _short(text: str) -> str:
    return text if len(text) <= 300 else text[:297] + "..."


class Token:
    """An access token and when it stops being used (five minutes before it expires)."""

    def __init__(self, value: str, expires_in: float) -> None:
        self.value = value
        self.until = time.monotonic() + max(0.0, expires_in - 300)


def _acquire(connection: EntraConnection, fresh: bool) -> Token:
    try:
        app = _app(connection)
        if fresh:
            app.remove_tokens_for_client()
        found = app.acquire_token_for_client([f"{_resource(connection)}/{SCOPE}"])
    except OSError as e:
        raise Unreachable(f"{_where(connection)}: signing in failed: {_short(str(e))}") from None
    if "access_token" in found:
        return Token(str(found["access_token"]), float(found.get("expires_in", 3600)))
    raise BadInput(explain_signin(connection, found))


def _resource(connection: EntraConnection) -> str:
    return connection.graph.rstrip("/")


def explain_signin(connection: EntraConnection, found: dict[str, Any]) -> str:
    codes = found.get("error_codes") or []
    said = str(found.get("error_description") or found.get("error") or "no answer")
    said = said.split(" Trace ID:")[0]
    hint = next((_HINTS[c] for c in codes if c in _HINTS), None)
    who = f"app {connection.client_id} in tenant {connection.tenant}"
    if hint:
        return f"{_where(connection)}: signing in as {who} failed: {hint} ({said})"
    return f"{_where(connection)}: signing in as {who} failed ({said})"


async def token(connection: EntraConnection, *, fresh: bool = False) -> Token:
    """A token for Graph (a fresh one when Graph refused the last as expired)."""
    return await asyncio.to_thread(_acquire, connection, fresh)
