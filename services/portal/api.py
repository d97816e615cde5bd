"""The HTTP API (`/api/…`): what the command line does, asked in the name of the person
signed in (or the system whose token came). Reads come from the buckets, the journal and
the recorder; every change is a command the workflow decides on — the portal itself
allows nothing the workflow would refuse, and refuses nothing it would allow."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StringConstraints

from core.errors import BadInput, NotFound
from schemas.history import HistoryQuery
from schemas.ids import is_slug
from schemas.jobs import Job
from services.common.approvals import WAITING, may_answer, waiting
from services.common.history_client import all_changes, csv_text, review, why_of
from services.common.runs import Runs

from .guard import Asker, portal_of
from .listing import last_runs, newer, recent_runs, run_story
from .provision import provision
from .views import brief, connection_view, job_view, plan_rows, stored_plan

router = APIRouter(prefix="/api")
RECENT = 200
"""The recent runs whose freshest state a job's last run is taken from."""
_json = msgspec.json.Encoder()


def reply(value: Any, status: int = 200) -> Response:
    return Response(_json.encode(value), status, media_type="application/json")


class RunRequest(BaseModel):
    job: str = Field(description="The job to run.")
    keys: list[str] | None = Field(
        default=None, description="Only these objects (by key): a key-scoped run."
    )
    changed_only: bool = Field(default=False, description="Only what changed (incremental).")


class Decision(BaseModel):
    reason: str = Field(default="", max_length=2000, description="Why, in words.")


class ProvisionRequest(BaseModel):
    key: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        description="The object's key in the job's source (spaces around it are no part of it)."
    )
    wait: float = Field(default=30.0, gt=0, le=120, description="Seconds to wait for the end.")


@router.get("/me", summary="Who is signed in")
async def me(person: Asker) -> Response:
    return reply({"principal": person.principal, "via": person.via, "csrf": person.csrf})


@router.get("/connections", summary="Connections (where secrets are: never what they are)")
async def connections(request: Request, person: Asker) -> Response:
    found = await portal_of(request).catalogue.connections()
    return reply([connection_view(c) for c in found])


@router.get("/connections/{connection_id}", summary="One connection")
async def connection(request: Request, connection_id: str, person: Asker) -> Response:
    found = await portal_of(request).bus.store.connection(connection_id)
    return reply(connection_view(found))


@router.get("/jobs", summary="Jobs, each with its last run")
async def jobs(request: Request, person: Asker) -> Response:
    portal = portal_of(request)
    session = portal.session(person.principal)
    jobs = await portal.catalogue.jobs()
    stories, _ = await recent_runs(session, RECENT)
    last = newer(await last_runs(session, {job.id for job in jobs}), stories)
    return reply([job_view(job, last.get(job.id)) for job in jobs])


@router.get("/jobs/{job_id}", summary="One job's definition")
async def job(request: Request, job_id: str, person: Asker) -> Response:
    return reply(await portal_of(request).bus.store.job(job_id))


@router.put(
    "/jobs/{job_id}",
    summary="Apply a job (its definition as JSON, the same fields as the TOML)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def apply_job(request: Request, job_id: str, person: Asker) -> Response:
    try:
        job = msgspec.json.decode(await request.body(), type=Job)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise BadInput(f"job {job_id}: {error}") from None
    if job.id != job_id:
        raise BadInput(f"the job's id is {job.id!r}, not {job_id!r} as the address says")
    existed = await portal_of(request).session(person.principal).apply_job(job)
    return reply({"job": job.id, "done": "updated" if existed else "created"})


@router.delete("/jobs/{job_id}", summary="Delete a job (and its history, asked to)")
async def delete_job(
    request: Request, job_id: str, person: Asker, forget_history: bool = False
) -> Response:
    done = await portal_of(request).session(person.principal).delete_job(job_id, forget_history)
    return reply({"job": job_id, "done": done})


@router.post(
    "/jobs/{job_id}/provision",
    summary="Provision one object now: each step of its run, as it happened",
)
async def provision_one(
    request: Request, job_id: str, body: ProvisionRequest, person: Asker
) -> Response:
    portal = portal_of(request)
    found = await provision(portal, person.principal, job_id, body.key, body.wait)
    return reply(found)


@router.get("/runs", summary="Runs, newest first")
async def runs(
    request: Request,
    person: Asker,
    job: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Response:
    if job is not None and not is_slug(job):
        raise BadInput(f"job {job!r} is not a job id")
    session = portal_of(request).session(person.principal)
    stories, steps = await recent_runs(session, limit, job_id=job or "")
    return reply([brief(story, steps) for story in stories])


@router.post("/runs", summary="Ask for a run", status_code=202)
async def request_run(request: Request, body: RunRequest, person: Asker) -> Response:
    session = portal_of(request).session(person.principal)
    answer = await session.ask_run(body.job, body.keys, body.changed_only)
    return reply({"run_id": answer.run_id, "waits_for": answer.waits_for}, 202)


async def _story(request: Request, principal: str, run_id: str) -> dict[str, Any]:
    session = portal_of(request).session(principal)
    found = await run_story(session, run_id)
    if found is None:
        raise NotFound(f"no run {run_id!r} in the journal")
    shown: dict[str, Any] = msgspec.to_builtins(found)
    return shown


@router.get("/runs/{run_id}", summary="A run's story, from the journal")
async def run(request: Request, run_id: str, person: Asker) -> Response:
    return reply(await _story(request, person.principal, run_id))


@router.get(
    "/runs/{run_id}/plan", summary="A run's planned changes, once its plan is stored (approved)"
)
async def run_plan(request: Request, run_id: str, person: Asker) -> Response:
    portal = portal_of(request)
    story = await _story(request, person.principal, run_id)
    if not story.get("plan_hash"):
        raise NotFound(f"run {run_id} has no plan yet ({story['state']})")
    plan = await stored_plan(portal.bus, run_id)
    job = await portal.bus.store.find_job(plan.job_id)
    return reply(
        {
            "run_id": run_id,
            "plan_hash": plan.plan_hash,
            "rows": await plan_rows(portal.bus, plan, job),
        }
    )


@router.post("/runs/{run_id}/{verb}", summary="Approve, deny or cancel a run")
async def decide(
    request: Request,
    run_id: str,
    verb: Literal["approve", "deny", "cancel"],
    person: Asker,
    body: Annotated[Decision | None, Body()] = None,
) -> Response:
    session = portal_of(request).session(person.principal)
    await session.decide(verb, run_id, body.reason if body else "")
    return reply({"run_id": run_id, "done": verb})


@router.get("/runs/{run_id}/review", summary="A run as the history keeps it")
async def run_review(request: Request, run_id: str, person: Asker) -> Response:
    found = await review(portal_of(request).session(person.principal), run_id)
    return reply(found)


@router.get("/runs/{run_id}/changes.csv", summary="A run's change report (CSV)")
async def run_changes_csv(request: Request, run_id: str, person: Asker) -> Response:
    session = portal_of(request).session(person.principal)
    rows = await all_changes(session, HistoryQuery(what="changes", run_id=run_id))
    return Response(
        csv_text(rows),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{run_id}-changes.csv"'},
    )


@router.get("/approvals", summary="Runs waiting for my approval (all: for anyone's)")
async def approvals(request: Request, person: Asker, all: bool = False) -> Response:
    portal = portal_of(request)
    states, found = Runs(portal.bus.js), []
    for entry in await waiting(portal.bus.js):
        state = await states.get(entry.run_id)
        if state is None or state.state != WAITING:
            continue  # answered meanwhile
        if all or may_answer(entry, person.principal):
            found.append(entry)
    return reply(found)


@router.get("/history", summary="Every change recorded to an object")
async def history(
    request: Request,
    person: Asker,
    key: Annotated[str, Query(min_length=1)],
    job: str = "",
    since: str = "",
) -> Response:
    if job and not is_slug(job):
        raise BadInput(f"job {job!r} is not a job id")
    session = portal_of(request).session(person.principal)
    query = HistoryQuery(what="object", key=key, job_id=job, since=since)
    return reply(await all_changes(session, query))


@router.get("/history/why", summary="Which run last wrote a field of an object, and how")
async def why(
    request: Request,
    person: Asker,
    job: Annotated[str, Query(min_length=1)],
    key: Annotated[str, Query(min_length=1)],
    field: Annotated[str, Query(min_length=1)],
) -> Response:
    session = portal_of(request).session(person.principal)
    return reply((await why_of(session, job, key, field)).summary())
