"""The portal's pages in a real browser (Debian's Chromium): sign in, run a job that waits
for approval, approve it as a second person, watch it finish on the dashboard, review
it and download its change report, look an object up in the history. Screenshots of
each page go to test-artefacts/portal/."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import msgspec
import pytest

from services.common.definitions import load_connections
from services.common.settings import Settings

from .browser import ARTEFACTS
from .conftest import JOB_ID, Files
from .portal import password_of, portal_running, portal_url
from .secured import APPROVAL, Running, apply_as, person

COUNT = 3000
BATCH = 100


@pytest.fixture
def secure(secure: Settings) -> Settings:
    return msgspec.structs.replace(secure, portal_port=0)


async def sign_in(
    browser: Any, settings: Settings, principal: str, problems: list[str] | None = None
) -> Any:
    context = await browser.new_context(base_url=portal_url(settings), accept_downloads=True)
    page = await context.new_page()
    if problems is not None:  # what the browser refused or failed to run: a script's error
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
    await page.goto("/")
    assert page.url.endswith("/signin"), "a page needs a sign-in first"
    await page.get_by_label("Name").fill(principal)
    await page.get_by_label("Password").fill(password_of(settings, principal))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/$"))
    return page


async def shot(page: Any, name: str, *, ours: bool = True) -> None:
    """A screenshot of the page; one of ours must pass axe-core's accessibility rules."""
    await page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)
    if ours:
        assert await accessibility_problems(page) == [], name


async def accessibility_problems(page: Any) -> list[str]:
    """axe-core's violations on the page (labels, contrast, names, landmarks...)."""
    try:
        from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
        from playwright.async_api import Error as BrowserError
    except ImportError:
        return []  # pyproject's dev tools have it; without it the rest is still checked
    for _ in range(3):
        try:
            results = await Axe().run(page)
            break
        except BrowserError as error:  # the dashboard reloads itself when a run moves on
            if "context was destroyed" not in str(error):
                raise
            await page.wait_for_load_state()
    else:
        raise AssertionError("the page kept reloading while it was checked")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
    ]


async def test_a_run_approved_by_another_finishes_live_and_is_reviewed(
    browser: Any, files: Files, secure: Settings, secured_services: Running
) -> None:
    rows = files.write(count=COUNT, batch_size=BATCH, extra=APPROVAL, owners=["alice"])
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)

        # A wrong password says so, and signs nobody in.
        context = await browser.new_context(base_url=portal_url(secure))
        page = await context.new_page()
        await page.goto("/signin")
        await page.get_by_label("Name").fill("alice")
        await page.get_by_label("Password").fill("not it")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("alert").wait_for()
        assert "wrong name or password" in await page.get_by_role("alert").inner_text()
        await shot(page, "1-sign-in-refused")
        await context.close()

        problems: list[str] = []
        alice = await sign_in(browser, secure, "alice", problems)
        job_row = alice.get_by_role("row").filter(has_text=JOB_ID)
        await job_row.get_by_role("button", name=f"Run {JOB_ID}").click()
        note = alice.get_by_role("status")
        await note.wait_for()
        assert "waits for approval" in await note.inner_text()
        run_id = re.search(r"run (\S+) of", await note.inner_text()).group(1)  # type: ignore[union-attr]
        await shot(alice, "2-dashboard-asked")

        bob = await sign_in(browser, secure, "bob", problems)
        await bob.get_by_role("link", name="Approvals").click()
        card = bob.locator(f'article[data-run="{run_id}"]')
        await card.wait_for()
        assert "alice" in await card.inner_text()
        await shot(bob, "3-approvals")
        await card.get_by_label("Reason").fill("checked the numbers")
        await card.get_by_role("button", name="Approve").click()
        await bob.get_by_role("status").wait_for()
        assert f"run {run_id} approved" in await bob.get_by_role("status").inner_text()

        # Alice's dashboard, untouched since, follows the run to its end by itself.
        going = alice.locator(f'#going li[data-run="{run_id}"]')
        await going.wait_for(timeout=30_000)
        await shot(alice, "4-dashboard-in-progress")
        outcome = alice.locator("#ended tr").filter(has_text=run_id)
        await outcome.wait_for(timeout=60_000)
        assert "finished" in await outcome.inner_text()
        await shot(alice, "5-dashboard-finished")

        # The review: statistics, the change table, the CSV.
        await bob.goto(f"/runs/{run_id}")
        for _ in range(50):
            if await bob.locator("#changes-table").count():
                break
            await bob.wait_for_timeout(200)  # the recorder writes the history after the end
            await bob.reload()
        created = bob.locator(".stats div").filter(has_text="created").locator("dd")
        assert await created.inner_text() == str(COUNT)
        await bob.get_by_label("Filter").fill(rows[7]["employee_id"])
        visible = bob.locator("#changes-table tbody tr:visible")
        assert await visible.count() == 6, "one created object: six fields"
        await bob.get_by_role("button", name="Search all").click()
        heading = bob.get_by_role("heading", name=re.compile("^Changes"))
        assert await heading.inner_text() == f"Changes (6 matching “{rows[7]['employee_id']}”)"
        await shot(bob, "6-run-review")
        async with bob.expect_download() as waiting:
            await bob.get_by_role("link", name="Download CSV").click()
        download = await waiting.value
        saved = ARTEFACTS / f"{run_id}-changes.csv"
        await download.save_as(saved)
        report = list(csv.DictReader(io.StringIO(saved.read_text())))
        assert len({row["key"] for row in report}) == COUNT
        assert {row["action"] for row in report} == {"create"}

        # History: every change to one object, and the run that made it.
        await bob.get_by_role("link", name="History").click()
        await bob.get_by_label("Key").fill(rows[7]["employee_id"])
        await bob.get_by_role("button", name="Search").click()
        table = bob.locator("#history-table")
        await table.wait_for()
        assert run_id in await table.inner_text()
        assert rows[7]["email"] in await table.inner_text()
        await shot(bob, "7-history")
        await table.get_by_role("link", name="why mail").first.click()
        why = bob.locator("#why")
        await why.wait_for()
        assert run_id in await why.inner_text() and "source field email" in await why.inner_text()
        await shot(bob, "7b-why")

        await bob.goto("/docs")
        await bob.get_by_text("idsync portal").first.wait_for()
        await shot(bob, "8-api-docs", ours=False)  # Swagger UI's own page

        # On a phone's width: one column, nothing wider than the screen but the tables,
        # which scroll in their own box.
        await bob.set_viewport_size({"width": 390, "height": 844})
        narrow = (
            (f"/runs/{run_id}?q={rows[7]['employee_id']}", "9-run-narrow"),
            ("/", "10-dashboard-narrow"),
        )
        for path, name in narrow:
            await bob.goto(path)
            width = await bob.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide on a 390 px screen"
            await shot(bob, name)

        # Signed out, the pages ask for a sign-in again.
        await bob.goto("/")
        await bob.get_by_role("button", name="Sign out").click()
        await bob.wait_for_url(re.compile(r"/signin$"))
        await bob.goto("/approvals")
        assert bob.url.endswith("/signin")
        assert problems == [], "the pages ran without an error, nothing refused"


async def test_a_job_made_in_the_wizard_runs_and_another_may_not_change_it(
    browser: Any, files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=40, owners=["alice"])  # an owned job's connections are owned too
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await alice_cli.apply_connections(load_connections(files.connections))
        problems: list[str] = []
        alice = await sign_in(browser, secure, "alice", problems)
        await alice.get_by_role("link", name="New job").click()
        await alice.get_by_label("Id", exact=True).fill("people-copy")
        await alice.get_by_label("Title").fill("People into the directory table")
        await alice.get_by_label("Owners").fill("alice")
        await alice.get_by_label("Source connection").select_option("hr")
        await alice.get_by_label("Source file, table or container").fill("people.csv")
        await alice.get_by_label("Destination connection").select_option("db")
        await alice.get_by_label("Destination file, table or container").fill("people")
        await alice.get_by_label("Keys").fill("employee_id")
        assert await alice.get_by_label("On destination only").input_value() == "skip"
        grid = [("employee_id", ""), ("given_name", "first_name"), ("mail", "email")]
        for n, (to, source) in enumerate(grid, start=1):
            await alice.get_by_label(f"destination field {n}", exact=True).fill(to)
            await alice.get_by_label(f"source field {n}", exact=True).fill(source)
        await alice.get_by_role("button", name="Preview").click()
        toml = alice.locator("#toml")
        await toml.wait_for()
        text = await toml.inner_text()
        assert 'id = "people-copy"' in text and 'from = "first_name"' in text
        plan = await alice.locator("#plan").inner_text()  # planned by a runner
        assert "40 create, 0 update, 0 delete" in plan, plan
        await shot(alice, "11-wizard-preview")
        await alice.get_by_role("button", name="Save").click()
        await alice.get_by_role("status").wait_for()
        assert "job people-copy created" in await alice.get_by_role("status").inner_text()

        await alice.get_by_role("button", name="Run people-copy").click()
        outcome = alice.locator("#ended tr").filter(has_text="people-copy")
        await outcome.wait_for(timeout=60_000)
        assert "finished" in await outcome.inner_text()
        assert re.search(r"\b40\b", await outcome.inner_text()), "40 written"
        await alice.goto("/")
        assert "user" in await alice.locator("#by-type").inner_text()
        assert "40 change(s)" in await alice.locator("#activity").inner_text()
        await shot(alice, "13-dashboard-summaries")
        for path in ("templates", "collections", "schedules", "roles"):
            await alice.get_by_role("link", name=path.capitalize()).click()
            await alice.get_by_role("heading", level=1).wait_for()
            await shot(alice, f"14-{path}")  # axe-core's rules hold on each

        dave = await sign_in(browser, secure, "dave", problems)
        await dave.goto("/jobs/people-copy/edit")
        await dave.get_by_label("Title").fill("dave's now")
        await dave.get_by_role("button", name="Save").click()
        refusal = dave.get_by_role("alert")
        await refusal.wait_for()
        assert "owned by alice" in await refusal.inner_text()
        await shot(dave, "12-wizard-refused")
        await alice.goto("/jobs/people-copy/edit")
        assert await alice.get_by_label("Title").input_value() == "People into the directory table"
        assert problems == []
