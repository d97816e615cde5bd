"""The API documents published in docs/api/ are the ones the code generates: the portal's
OpenAPI (FastAPI) and the event catalogue's AsyncAPI (FastStream, payloads from the
event Structs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.common import asyncapi
from services.portal import openapi

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api"


def test_the_committed_openapi_document_is_the_codes() -> None:
    committed = json.loads((DOCS / "openapi.json").read_text())
    assert committed == openapi.document(), (
        "docs/api/openapi.json is stale: python -m services.portal.openapi > docs/api/openapi.json"
    )


def test_the_committed_asyncapi_document_is_the_codes() -> None:
    committed = json.loads((DOCS / "asyncapi.json").read_text())
    assert committed == asyncapi.document(), (
        "docs/api/asyncapi.json is stale: "
        "python -m services.common.asyncapi > docs/api/asyncapi.json"
    )


@pytest.mark.parametrize("kind", asyncapi.kinds(), ids=lambda k: k.__struct_config__.tag)
def test_every_event_is_in_the_catalogue_with_its_fields(kind: type[Any]) -> None:
    found = asyncapi.document()
    tag = kind.__struct_config__.tag
    channel = found["channels"][tag]
    assert channel["address"] == f"idsync.{tag}.{{job_id}}"
    message = found["components"]["messages"][f"{tag}:Message"]
    schema = found["components"]["schemas"][message["payload"]["$ref"].rsplit("/", 1)[1]]
    assert schema["properties"]["type"]["enum"] == [tag]
    assert set(kind.__struct_fields__) <= set(schema["properties"])


def test_the_openapi_document_names_every_api_route() -> None:
    paths = openapi.document()["paths"]
    for path in (
        "/api/signin",
        "/api/jobs",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/provision",
        "/api/runs",
        "/api/runs/{run_id}/{verb}",
        "/api/runs/{run_id}/changes.csv",
        "/api/approvals",
        "/api/history",
        "/api/history/why",
        "/api/events",
        "/api/connections",
    ):
        assert path in paths, path
    assert not any(not path.startswith("/api/") for path in paths), "pages stay out of it"
    answers = paths["/api/runs"]["post"]["responses"]
    assert "422" not in answers, "bad input is answered 400, as the document says"
    assert answers["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/Problem")
    assert "429" in paths["/api/signin"]["post"]["responses"]


def test_the_api_page_loads_nothing_from_another_site() -> None:
    from fastapi.testclient import TestClient

    from services.portal.http import application

    client = TestClient(application())
    page = client.get("/docs").text
    assert "/static/swagger/swagger-ui-bundle.js" in page and "/openapi.json" in page
    assert "https://" not in page and "http://" not in page
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200


def test_pages_load_only_the_portals_own_scripts_and_styles() -> None:
    from fastapi.testclient import TestClient

    from services.portal.http import application

    client = TestClient(application())
    page = client.get("/signin")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert '<script src="/static/portal.js"' in page.text
    assert "https://" not in page.text and "http://" not in page.text
