"""Headers on every answer that keep a browser from doing more than the portal means: no
script, style or frame from anywhere else, not framed by another site, no type sniffing.
(Swagger UI's page at /docs starts itself with an inline script: allowed there alone.)"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT = b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
DOCS = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; frame-ancestors 'none'"
)
ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS if scope["path"] == "/docs" else STRICT

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *ALWAYS,
                    (b"content-security-policy", policy),
                ]
            await send(message)

        await self.app(scope, receive, sending)
