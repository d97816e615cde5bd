"""The pages people use: sign in, the dashboard, approvals, a run's review, history.

Rendered on the server (Jinja2, autoescaped); the little script they load is the
package's own (static/portal.js), so nothing comes from another site. Every form that
changes something carries the session's CSRF token; its action is the same command the
API sends, in the person's name.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import msgspec
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import IdsyncError, NotFound, Unreachable
from core.run_texts import STAT_NAMES, counts_line, duration, keys_line
from schemas.connections import Connection
from schemas.history import HistoryQuery
from schemas.ids import utcnow
from schemas.previews import PreviewReply, PreviewRequest
from services.common.approvals import WAITING, may_answer, waiting
from services.common.exporting import job_text
from services.common.history_client import Review, all_changes, review, why_of
from services.common.runs import Runs

from . import wizard
from .dashboard import DAYS, summaries
from .guard import COOKIE, Person, check_csrf, portal_of, who
from .listing import journal_story, last_runs, newer, recent_runs, runs_since
from .signing import set_cookie, sign_in
from .views import brief, job_view

router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
# Every statistic and every count of a plan, in the words `idsync run show` uses: none
# left out (objects restored, records skipped).
templates.env.globals.update(STAT_NAMES=STAT_NAMES, counts_line=counts_line, keys_line=keys_line)


class SignInNeeded(Exception):
    pass


async def _person(request: Request) -> Person:
    person = await who(request)
    if person is None or person.via == "token":
        raise SignInNeeded
    return person


async def _form(request: Request, person: Person) -> dict[str, str]:
    fields = {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}
    check_csrf(request, person, fields.get("csrf"))
    return fields


def _page(request: Request, name: str, person: Person | None, **context: Any) -> Response:
    context.update(person=person, csrf=person.csrf if person else "")
    context.setdefault("note", request.query_params.get("note", ""))
    context.setdefault("error", request.query_params.get("error", ""))
    return templates.TemplateResponse(request, name, context)


def _back(path: str, *, note: str = "", error: str = "") -> RedirectResponse:
    query = f"?note={quote(note)}" if note else f"?error={quote(error)}" if error else ""
    return RedirectResponse(path + query, 303)


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    return _page(request, "signin.html", None)


@router.post("/signin")
async def signin_form(request: Request) -> Response:
    fields = {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}
    try:
        session_id, _ = await sign_in(request, fields.get("user", ""), fields.get("password", ""))
    except HTTPException as refused:
        response = _page(request, "signin.html", None, error=str(refused.detail))
        response.status_code = refused.status_code
        return response
    response = RedirectResponse("/", 303)
    set_cookie(request, response, session_id)
    return response


@router.post("/signout")
async def signout_form(request: Request) -> Response:
    person = await _person(request)
    await _form(request, person)
    portal_of(request).sessions.close(person.session_id)
    response = RedirectResponse("/signin", 303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
async def dashboard(request: Request) -> Response:
    person = await _person(request)
    portal = portal_of(request)
    session = portal.session(person.principal)
    defined = await portal.catalogue.jobs()
    stories, steps = await recent_runs(session, RECENT)
    last = newer(await last_runs(session, {job.id for job in defined}), stories)
    jobs = [job_view(job, last.get(job.id)) for job in defined]
    jobs.sort(key=lambda j: (j["types"][:1], j["id"]))
    runs = [brief(story, steps) for story in stories]
    going = [run for run in runs if not run["ended"]]
    ended = [run for run in runs if run["ended"]][:20]
    now = utcnow()
    month = await runs_since(session, now - timedelta(days=DAYS), stories)
    more = await summaries(portal.bus, defined, last, month, now)
    return _page(request, "dashboard.html", person, jobs=jobs, going=going, ended=ended, **more)


@router.post("/jobs/{job_id}/run")
async def run_job(request: Request, job_id: str) -> Response:
    person = await _person(request)
    await _form(request, person)
    try:
        answer = await portal_of(request).session(person.principal).ask_run(job_id)
    except IdsyncError as error:
        return _back("/", error=str(error))
    waits = " — it waits for approval" if answer.waits_for is not None else ""
    return _back("/", note=f"run {answer.run_id} of {job_id} asked for{waits}")


async def _connections(request: Request) -> dict[str, Connection]:
    return {c.id: c for c in await portal_of(request).catalogue.connections()}


def _wizard(
    request: Request,
    person: Person,
    connections: dict[str, Connection],
    form: dict[str, str],
    *,
    editing: str = "",
    toml: str = "",
    error: str = "",
    planned: PreviewReply | None = None,
    plan_error: str = "",
) -> Response:
    places = {c: wizard.place_field(connections, c) or "" for c in connections}
    return _page(
        request,
        "wizard.html",
        person,
        form=form,
        connections=list(connections),
        places=places,
        actions=wizard.ACTIONS,
        rows=wizard.ROWS,
        editing=editing,
        toml=toml,
        error=error,
        planned=planned,
        plan_error=plan_error,
    )


@router.get("/jobs/new")
async def new_job(request: Request) -> Response:
    person = await _person(request)
    return _wizard(request, person, await _connections(request), wizard.defaults())


@router.get("/jobs/{job_id}/edit")
async def edit_job(request: Request, job_id: str) -> Response:
    person = await _person(request)
    connections = await _connections(request)
    job = await portal_of(request).bus.store.job(job_id)
    return _wizard(request, person, connections, wizard.form_of(job, connections), editing=job_id)


@router.post("/jobs/wizard")
async def wizard_form(request: Request) -> Response:
    """Preview (the job's TOML) or save (job-apply, checked by the workflow)."""
    person = await _person(request)
    fields = await _form(request, person)
    connections = await _connections(request)
    editing = fields.get("editing", "")
    store = portal_of(request).bus.store
    base = await store.find_job(editing) if editing else None
    try:
        job = wizard.job_of(fields, connections, base)
        toml = job_text(job, "toml")
        if fields.get("action") == "save":
            session = portal_of(request).session(person.principal)
            existed = await session.apply_job(job)
            done = "updated" if existed else "created"
            return _back("/", note=f"job {job.id} {done}")
    except IdsyncError as problem:
        return _wizard(request, person, connections, fields, editing=editing, error=str(problem))
    planned, plan_error = None, ""
    try:  # a runner plans it: the portal reads no data source
        session = portal_of(request).session(person.principal)
        asked = PreviewRequest(job=job, limit=PREVIEW_ROWS, scope=True)
        planned = await session.preview(asked)
    except IdsyncError as problem:
        plan_error = f"not planned: {problem}"
    return _wizard(
        request,
        person,
        connections,
        fields,
        editing=editing,
        toml=toml,
        planned=planned,
        plan_error=plan_error,
    )


@router.get("/approvals")
async def approvals_page(request: Request) -> Response:
    person = await _person(request)
    portal = portal_of(request)
    states, mine = Runs(portal.bus.js), []
    for entry in await waiting(portal.bus.js):
        state = await states.get(entry.run_id)
        if state is not None and state.state == WAITING and may_answer(entry, person.principal):
            mine.append(entry)
    return _page(request, "approvals.html", person, waiting=mine)


@router.post("/runs/{run_id}/{verb}")
async def decide_form(request: Request, run_id: str, verb: str) -> Response:
    person = await _person(request)
    fields = await _form(request, person)
    if verb not in {"approve", "deny", "cancel"}:
        raise HTTPException(404, f"no action {verb!r}")
    back = "/approvals" if verb != "cancel" else f"/runs/{run_id}"
    try:
        session = portal_of(request).session(person.principal)
        await session.decide(verb, run_id, fields.get("reason", ""))
    except IdsyncError as error:
        return _back(back, error=str(error))
    done = {"approve": "approved", "deny": "denied", "cancel": "cancelled"}[verb]
    return _back(back, note=f"run {run_id} {done}")


PREVIEW_ROWS = 10
"""The first changes the wizard's preview shows."""

RECENT = 200
"""Runs the dashboard lists (those going, then the last 20 ended)."""

SHOWN = 2000
"""Change rows a run's page shows at most (the CSV has them all)."""


@router.get("/runs/{run_id}")
async def run_page(request: Request, run_id: str, q: str = "") -> Response:
    person = await _person(request)
    session = portal_of(request).session(person.principal)
    found: Review | None = None
    try:
        found = await review(session, run_id)
    except (NotFound, Unreachable):
        found = None  # not recorded (yet), or no recorder: the journal tells where it stands
    live = None
    if found is None or found.run.ended_at is None:  # the journal says where it stands
        job_id = found.run.job_id if found is not None else ""
        live = await journal_story(session, run_id, job_id)
    if found is None and live is None:
        raise HTTPException(404, f"no run {run_id!r}")
    recorded = found is not None and (live is None or live.ended_at is not None)
    story = found.run if found is not None and recorded else live
    assert story is not None
    changes = found.changes if found else []
    wanted = q.strip().casefold()
    if wanted:
        changes = [
            c
            for c in changes
            if any(wanted in cell.casefold() for cell in (c.key, c.field, c.old, c.new, c.action))
        ]
    return _page(
        request,
        "run.html",
        person,
        run=msgspec.to_builtins(story),
        took=duration(story.duration) if story.duration is not None else "",
        q=q,
        total=len(changes),
        changes=changes[:SHOWN],
        planned=story.planned,
        errors=story.errors,
        logs=found.logs if found else [],
    )


@router.get("/history")
async def history_page(request: Request, key: str = "", job: str = "") -> Response:
    person = await _person(request)
    rows: list[Any] = []
    error = ""
    if key:
        session = portal_of(request).session(person.principal)
        try:
            rows = await all_changes(session, HistoryQuery(what="object", key=key, job_id=job))
        except IdsyncError as problem:
            error = str(problem)
    return _page(request, "history.html", person, key=key, job=job, rows=rows, error=error)


@router.get("/history/why")
async def why_page(request: Request, job: str, key: str, field: str) -> Response:
    """Which run last wrote a field of an object, and how the job maps it."""
    person = await _person(request)
    session = portal_of(request).session(person.principal)
    try:
        answer = await why_of(session, job, key, field)
    except IdsyncError as problem:
        return _page(request, "why.html", person, job=job, key=key, field=field, error=str(problem))
    source = answer.source
    return _page(
        request,
        "why.html",
        person,
        job=job,
        key=key,
        field=field,
        why=answer.summary(),
        transform=msgspec.json.encode(source.transform).decode()
        if source and source.transform
        else "",
    )


async def on_sign_in_needed(request: Request, error: Exception) -> Response:
    return RedirectResponse("/signin", 303)


async def on_page_error(request: Request, error: Exception) -> Response:
    """A page's HTTP error as a page (the API's stay JSON)."""
    assert isinstance(error, StarletteHTTPException)
    if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
        from fastapi.exception_handlers import http_exception_handler

        return await http_exception_handler(request, error)
    response = HTMLResponse(
        templates.get_template("error.html").render(status=error.status_code, detail=error.detail),
        error.status_code,
    )
    return response
