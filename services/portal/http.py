"""The portal's FastAPI application: the API (`/api`), the pages, the vendored static
files, and the OpenAPI document at `/openapi.json` (read at `/docs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import IdsyncError

from . import api, api_catalogue, api_preview, api_roles, live, pages, pages_catalogue, signing
from .guard import on_idsync_error, on_invalid
from .headers import SecurityHeaders
from .portal import Portal

STATIC = Path(__file__).parent / "static"
ERRORS = {
    "400": "bad input, or a command the services refused for what it says: the reason",
    "401": "not signed in",
    "403": (
        "a wrong token, a missing or wrong CSRF token, or a command the services refused "
        "because you may not do it (a role's permission, a job's owners): the reason"
    ),
    "404": "not found",
    "503": "the services do not answer",
}
SIGN_IN_ERRORS = {
    "400": "a field missing or too long",
    "401": "wrong name or password",
    "429": "too many failed sign-ins: try again after Retry-After seconds",
}
TITLE = "idsync portal"
VERSION = "1"


def application(portal: Portal | None = None) -> FastAPI:
    """The app; `portal` None builds it for its OpenAPI document alone."""
    app = FastAPI(
        title=TITLE,
        version=VERSION,
        description=(
            "idsync's HTTP API: jobs, connections, runs, approvals and history, asked in "
            "the name of the person signed in (a session cookie and its CSRF token in "
            "`X-CSRF-Token`) or of a system (`Authorization: Bearer NAME:TOKEN`). The "
            "services decide what each may do."
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.state.portal = portal
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(IdsyncError, on_idsync_error)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(pages.SignInNeeded, pages.on_sign_in_needed)
    app.add_exception_handler(StarletteHTTPException, pages.on_page_error)
    app.include_router(signing.router, tags=["sign-in"])
    app.include_router(api.router, tags=["api"])
    app.include_router(api_catalogue.router, tags=["api"])
    app.include_router(api_roles.router, tags=["api"])
    app.include_router(api_preview.router, tags=["api"])
    app.include_router(live.router, tags=["api"])
    app.include_router(pages.router, include_in_schema=False)
    app.include_router(pages_catalogue.router, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def openapi() -> dict[str, Any]:
        """FastAPI's document, saying the errors as the portal answers them: one
        `{"detail": "…"}` with 400 for bad input (FastAPI would say 422), 401 without a
        sign-in, 403 for a wrong token or CSRF token."""
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            schemas["Problem"] = {
                "type": "object",
                "properties": {"detail": {"type": "string", "description": "what is wrong"}},
                "required": ["detail"],
            }
            for path, operations in document["paths"].items():
                for operation in operations.values():
                    answers = operation.setdefault("responses", {})
                    answers.pop("422", None)
                    errors = ERRORS if path != "/api/signin" else SIGN_IN_ERRORS
                    for status, words in errors.items():
                        answers[status] = {
                            "description": words,
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Problem"}
                                }
                            },
                        }
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """Swagger UI on the OpenAPI document, its files served from the package."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{TITLE} — API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
            swagger_ui_parameters={"syntaxHighlight": False},
        )

    return app
