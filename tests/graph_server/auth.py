"""Signing in: the OpenID discovery document msal reads and the token endpoint's client
credentials grant, with a secret or a certificate's signed assertion.

Pages: learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
(the request, `expires_in`, errors such as AADSTS7000215 invalid_client),
/entra/identity-platform/certificate-credentials (client_assertion: a JWT signed with the
certificate's key, `x5t`/`x5t#S256` its thumbprint, `aud` the token endpoint),
/entra/identity-platform/v2-protocols-oidc (.well-known/openid-configuration), and
/entra/identity-platform/access-token-claims-reference (tid, appid, roles)."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .directory import Tenant

SIGNING_KEY = uuid.uuid4().hex
"""The server's key for the tokens it issues (HS256: only it reads them)."""
AUDIENCE = "https://graph.microsoft.com"
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

Answer = tuple[int, dict[str, Any]]


def oidc_document(base: str, tenant: Tenant) -> dict[str, Any]:
    root = f"{base}/{tenant.id}"
    return {
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{base}/{tenant.id}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{root}/v2.0",
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
    }


def no_tenant(name: str) -> Answer:
    return 400, _error(
        "invalid_tenant",
        90002,
        f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud.",
    )


def _error(error: str, code: int, text: str) -> dict[str, Any]:
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    trace = str(uuid.uuid4())
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: "
        f"{uuid.uuid4()} Timestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": str(uuid.uuid4()),
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


def token(base: str, tenant: Tenant, form_body: bytes) -> Answer:
    """The token endpoint: a client credentials grant for Microsoft Graph."""
    form = {k: v[0] for k, v in parse_qs(form_body.decode()).items()}
    if form.get("grant_type") != "client_credentials":
        return 400, _error(
            "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
        )
    scope = form.get("scope", "")
    # Graph's own resource, or this server's address (as a national cloud's Graph is).
    resource = next((r for r in (AUDIENCE, base) if f"{r}/.default" in scope.split()), None)
    if resource is None:
        return 400, _error(
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier.",
        )
    client_id = form.get("client_id", "")
    app = tenant.apps.get(client_id)
    if app is None:
        return 400, _error(
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{tenant.name}'. This can happen if the application has not been installed by "
            "the administrator of the tenant or consented to by any user in the tenant.",
        )
    if "client_assertion" in form:
        problem = _assertion_problem(form, app.certificate, f"{base}/{tenant.id}", client_id)
        if problem is not None:
            return 401, _error("invalid_client", 700027, problem)
    elif app.secret is None or form.get("client_secret") != app.secret:
        return 401, _error(
            "invalid_client",
            7000215,
            f"Invalid client secret provided. Ensure the secret being sent in the request is "
            f"the client secret value, not the client secret ID, for a secret added to app "
            f"'{client_id}'.",
        )
    now = int(time.time())
    claims = {
        "aud": resource,
        "iss": f"https://sts.windows.net/{tenant.id}/",
        "iat": now,
        "nbf": now,
        "exp": now + tenant.token_lifetime,
        "appid": client_id,
        "tid": tenant.id,
        "roles": list(app.roles),
        "idtyp": "app",
        "ver": "1.0",
        "epoch": tenant.token_epoch,
    }
    access = jwt.encode(claims, SIGNING_KEY, algorithm="HS256")
    return 200, {
        "token_type": "Bearer",
        "expires_in": tenant.token_lifetime,
        "ext_expires_in": tenant.token_lifetime,
        "access_token": access,
    }


def _assertion_problem(
    form: dict[str, str], certificate: str | None, root: str, client_id: str
) -> str | None:
    if form.get("client_assertion_type") != ASSERTION or certificate is None:
        return "Client assertion contains an invalid signature or no certificate is registered."
    cert = x509.load_pem_x509_certificate(certificate.encode())
    assertion = form["client_assertion"]
    header = jwt.get_unverified_header(assertion)
    der = cert.public_bytes(Encoding.DER)
    thumbs = {"x5t": hashlib.sha1(der).digest(), "x5t#S256": hashlib.sha256(der).digest()}
    if not any(_b64(header.get(name)) == value for name, value in thumbs.items()):
        return (
            f"Client assertion contains an invalid signature. [Reason - The key was not found., "
            f"Thumbprint of key used by client: '{header.get('x5t#S256') or header.get('x5t')}']"
        )
    try:
        claims = jwt.decode(
            assertion,
            cert.public_key(),  # type: ignore[arg-type]
            algorithms=["RS256", "PS256"],
            audience=f"{root}/oauth2/v2.0/token",
        )
    except jwt.PyJWTError as e:
        return f"Client assertion failed signature validation. ({e})"
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        return "The issuer and subject of the client assertion must be the client id."
    return None


def _b64(text: object) -> bytes:
    """A thumbprint header's bytes, base64url or base64, padded or not."""
    if not isinstance(text, str):
        return b""
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"))
    except ValueError:
        return b""


def bearer(
    base: str, tenant_of: dict[str, Tenant], header: str | None
) -> tuple[Tenant, dict[str, Any]] | str:
    """The tenant and claims of a request's access token, or why it is refused."""
    if not header or not header.lower().startswith("bearer "):
        return "Access token is empty."
    try:
        claims = jwt.decode(
            header[7:], SIGNING_KEY, algorithms=["HS256"], audience=[AUDIENCE, base]
        )
    except jwt.ExpiredSignatureError:
        return "Lifetime validation failed, the token is expired."
    except jwt.PyJWTError:
        return "IDX14100: JWT is not well formed."
    tenant = tenant_of.get(str(claims.get("tid")))
    if tenant is None:
        return "Invalid audience."
    if claims.get("epoch") != tenant.token_epoch:
        return "Lifetime validation failed, the token is expired."
    return tenant, claims
