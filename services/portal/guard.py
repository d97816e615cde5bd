"""Who asks: the person of the session cookie (with the CSRF token on every request that
changes something) or a system by its bearer token; and errors as HTTP answers."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Annotated

import msgspec
from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from core.errors import BadInput, Denied, IdsyncError, NotFound, Refused, Transient, Unreachable

if TYPE_CHECKING:
    from .portal import Portal

COOKIE = "idsync_session"
CSRF_HEADER = "x-csrf-token"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class Person(msgspec.Struct, frozen=True, kw_only=True):
    principal: str
    via: str
    """local, directory (signed in) or token (a system)."""
    csrf: str = ""
    session_id: str = ""


def portal_of(request: Request) -> Portal:
    found: Portal = request.app.state.portal
    return found


async def who(request: Request) -> Person | None:
    """The person asking, or None (not signed in); a request with a bad token or without
    its CSRF token is refused."""
    portal = portal_of(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        principal = await portal.accounts.system(token.strip())
        return Person(principal=principal, via="token")
    session_id = request.cookies.get(COOKIE, "")
    signed = portal.sessions.find(session_id) if session_id else None
    if signed is None:
        return None
    return Person(
        principal=signed.principal, via=signed.via, csrf=signed.csrf, session_id=session_id
    )


def check_csrf(request: Request, person: Person, sent: str | None) -> None:
    """A signed-in person's request that changes something carries the session's CSRF
    token (header X-CSRF-Token, or the form's `csrf` field): another site cannot make a
    browser send it. Systems send a token the browser never adds on its own."""
    if person.via == "token" or request.method in SAFE:
        return
    if not sent or not hmac.compare_digest(sent, person.csrf):
        raise HTTPException(403, "the CSRF token is missing or wrong: reload the page")


async def signed_in(request: Request) -> Person:
    """The API's guard: 401 without a sign-in or token."""
    person = await who(request)
    if person is None:
        raise HTTPException(401, "sign in first (POST /api/signin), or send a system's token")
    check_csrf(request, person, request.headers.get(CSRF_HEADER))
    return person


Asker = Annotated[Person, Depends(signed_in)]


def status_of(error: IdsyncError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Refused | Denied):
        return 403
    if isinstance(error, BadInput):
        return 400
    if isinstance(error, Unreachable | Transient):
        return 503
    return 500


async def on_idsync_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, IdsyncError)
    return JSONResponse({"detail": str(error)}, status_of(error))


async def on_invalid(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's validation errors as one line each: where, and what is wrong."""
    assert isinstance(error, RequestValidationError)
    lines = [
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
        for problem in error.errors()
    ]
    return JSONResponse({"detail": "; ".join(lines)}, 400)
