"""The portal's answers without the services: a page not found is a page, the API's
errors stay JSON, pages ask for a sign-in."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.portal.http import application


def test_a_missing_page_is_a_page_and_a_missing_route_of_the_api_is_json() -> None:
    client = TestClient(application())
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Back to the dashboard" in page.text
    api = client.get("/api/no-such-thing")
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}


def test_the_api_wants_a_sign_in_and_the_pages_send_you_to_it() -> None:
    client = TestClient(application(), follow_redirects=False)
    assert client.get("/signin").status_code == 200
    page = client.get("/approvals")
    assert page.status_code == 303 and page.headers["location"] == "/signin"
