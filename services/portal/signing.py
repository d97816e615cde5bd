"""Signing in and out: `POST /api/signin` (JSON) for programs, and the pages' form."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from .guard import COOKIE, Asker, portal_of
from .portal import Portal
from .signin import Signed

router = APIRouter(prefix="/api")


class SignIn(BaseModel):
    user: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


async def sign_in(request: Request, user: str, password: str) -> tuple[str, Signed]:
    """A new session for a right name and password; 401 otherwise, 429 after too many
    failures from the name or the address."""
    portal: Portal = portal_of(request)
    address = request.client.host if request.client else "?"
    keys = (user.strip().lower(), address)
    wait = portal.throttle.wait(*keys)
    if wait:
        raise HTTPException(
            429,
            f"too many failed sign-ins: try again in {int(wait) + 1} s",
            headers={"retry-after": str(int(wait) + 1)},
        )
    found = await portal.accounts.check(user, password)
    if found is None:
        portal.throttle.failed(*keys)
        raise HTTPException(401, "wrong name or password")
    return portal.sessions.open(*found)


def set_cookie(request: Request, response: Response, session_id: str) -> None:
    portal: Portal = portal_of(request)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(portal.settings.portal_session_minutes * 60),
        httponly=True,
        samesite="strict",
        secure=portal.settings.portal_secure_cookies,
        path="/",
    )


@router.post("/signin", summary="Sign in: a session cookie, and the CSRF token to send")
async def signin(request: Request, body: SignIn) -> Response:
    session_id, signed = await sign_in(request, body.user, body.password)
    response = Response(
        f'{{"principal":"{signed.principal}","csrf":"{signed.csrf}"}}',
        media_type="application/json",
    )
    set_cookie(request, response, session_id)
    return response


@router.post("/signout", summary="Sign out: the session ends")
async def signout(request: Request, person: Asker) -> Response:
    portal_of(request).sessions.close(person.session_id)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response
