"""The API's templates, collections and schedules (`/api/templates`, `/api/collections`,
`/api/schedules`): read from the buckets, changed by the same commands `idsync template`,
`idsync collection` and `idsync schedule` send, in the name of whoever asks — the
workflow decides, and its refusal for want of a right is answered 403."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from core.ad_templates import BUILTIN, builtin
from core.errors import BadInput, NotFound
from core.templates import collection_from, job_from, of_collection, of_job, placeholders
from core.upcoming import next_run, schedule_text
from schemas.collections import Collection
from schemas.ids import is_slug, utcnow
from schemas.jobs import Endpoint
from schemas.templates import Template
from services.common.collection_runs import CollectionRuns
from services.common.schedule_list import schedule_rows, with_schedule
from services.common.store import Store

from .api import reply
from .guard import Asker, portal_of

router = APIRouter(prefix="/api")
_JSON_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


class TemplateSave(BaseModel):
    template: str = Field(description="The template's id (a slug).")
    job: str | None = Field(default=None, description="Save this job as the template…")
    collection: str | None = Field(default=None, description="…or this collection.")
    title: str = Field(default="", max_length=200, description="Its title (the job's if empty).")


class TemplateUse(BaseModel):
    id: str = Field(description="The id of the job (or collection) to make.")
    title: str = Field(default="", max_length=200)
    values: dict[str, str] = Field(default_factory=dict, description="Its parameters' values.")
    source: dict[str, object] | None = Field(
        default=None, description='A job template\'s source: {"connection": …, "file": …}.'
    )
    destination: dict[str, object] | None = Field(
        default=None, description="A job template's destination, as the job's TOML says it."
    )


async def _template(store: Store, template_id: str) -> Template:
    found = builtin(template_id) or await store.find_template(template_id)
    if found is None:
        raise NotFound(f"no template {template_id!r}: GET /api/templates lists them")
    return found


def _template_row(template: Template) -> dict[str, object]:
    return {
        "id": template.id,
        "kind": template.kind,
        "title": template.display_title,
        "description": template.description,
        "from": "shipped" if template.builtin else "saved",
        "owners": template.owners,
        "parameters": sorted(placeholders(template) | set(template.parameters)),
    }


@router.get("/templates", summary="Templates: those idsync ships, then those saved")
async def templates(request: Request, person: Asker) -> Response:
    saved = await portal_of(request).bus.store.templates()
    return reply([_template_row(t) for t in [*BUILTIN, *sorted(saved, key=lambda t: t.id)]])


@router.get("/templates/{template_id}", summary="One template, whole")
async def template(request: Request, template_id: str, person: Asker) -> Response:
    return reply(await _template(portal_of(request).bus.store, template_id))


@router.post("/templates", summary="Save a job or a collection as a template", status_code=201)
async def save_template(request: Request, body: TemplateSave, person: Asker) -> Response:
    if not is_slug(body.template):
        raise BadInput(f"template: {body.template!r} is not an id of a-z, 0-9, _ and -")
    if (body.job is None) == (body.collection is None):
        raise BadInput("give either job or collection: the one to save as a template")
    portal = portal_of(request)
    store = portal.bus.store
    if body.job is not None:
        made = of_job(await store.job(body.job), body.template, body.title)
    else:
        made = of_collection(
            await store.collection(body.collection or ""), body.template, body.title
        )
    existed = await portal.session(person.principal).save_template(made)
    return reply({"template": made.id, "done": "updated" if existed else "saved"}, 201)


@router.delete("/templates/{template_id}", summary="Delete a saved template")
async def delete_template(request: Request, template_id: str, person: Asker) -> Response:
    await portal_of(request).session(person.principal).delete_template(template_id)
    return reply({"template": template_id, "done": "deleted"})


def _endpoint(given: dict[str, object] | None, where: str) -> Endpoint:
    if not given:
        raise BadInput(f"{where}: a job template needs its {where} (a connection and its scope)")
    try:
        return msgspec.convert(given, Endpoint)
    except msgspec.ValidationError as error:
        raise BadInput(f"{where}: {error}") from None


@router.post(
    "/templates/{template_id}/use",
    summary="Make a job (or a collection) from a template and apply it",
    status_code=201,
)
async def use_template(
    request: Request, template_id: str, body: TemplateUse, person: Asker
) -> Response:
    portal = portal_of(request)
    store = portal.bus.store
    made = await _template(store, template_id)
    session = portal.session(person.principal)
    if made.kind == "collection":
        if body.source or body.destination:
            raise BadInput(f"template {made.id} makes a collection: no source or destination")
        try:
            collection = collection_from(made, body.id, body.values, body.title)
        except msgspec.ValidationError as error:
            raise BadInput(f"template {made.id}: {error}") from None
        if await store.find_collection(collection.id) is not None:
            raise BadInput(f"collection {collection.id} exists already: choose another id")
        await session.apply_collection(collection)
        return reply({"collection": collection.id, "done": "created"}, 201)
    source = _endpoint(body.source, "source")
    destination = _endpoint(body.destination, "destination")
    try:
        job = job_from(made, body.id, source, destination, body.values, body.title)
    except msgspec.ValidationError as error:
        raise BadInput(f"template {made.id}: {error}") from None
    if await store.find_job(job.id) is not None:
        raise BadInput(f"job {job.id} exists already: choose another id")
    await session.apply_job(job)
    return reply({"job": job.id, "done": "created"}, 201)


@router.get("/collections", summary="Collections, pinned first, with their next and last run")
async def collections(request: Request, person: Asker) -> Response:
    portal = portal_of(request)
    found = await portal.bus.store.collections()
    runs, now, shown = CollectionRuns(portal.bus.js), utcnow(), []
    for collection in sorted(found, key=lambda c: (not c.pinned, c.id)):
        kept = await runs.of(collection.id)
        shown.append(
            {
                **msgspec.to_builtins(collection),
                "schedule_text": schedule_text(collection),
                "next_run": next_run(collection, now),
                "last_run": kept[-1] if kept else None,
            }
        )
    return reply(shown)


@router.get("/collections/{collection_id}", summary="A collection and its recent runs")
async def collection(
    request: Request,
    collection_id: str,
    person: Asker,
    runs: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    portal = portal_of(request)
    found = await portal.bus.store.collection(collection_id)
    kept = (await CollectionRuns(portal.bus.js).of(found.id))[-runs:]
    return reply({"collection": found, "runs": list(reversed(kept))})


@router.put(
    "/collections/{collection_id}",
    summary="Apply a collection (its definition as JSON, the TOML's fields)",
    openapi_extra=_JSON_BODY,
)
async def apply_collection(request: Request, collection_id: str, person: Asker) -> Response:
    try:
        given = msgspec.json.decode(await request.body(), type=Collection)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise BadInput(f"collection {collection_id}: {error}") from None
    if given.id != collection_id:
        raise BadInput(
            f"the collection's id is {given.id!r}, not {collection_id!r} as the address says"
        )
    existed = await portal_of(request).session(person.principal).apply_collection(given)
    return reply({"collection": given.id, "done": "updated" if existed else "created"})


@router.delete("/collections/{collection_id}", summary="Delete a collection (its jobs stay)")
async def delete_collection(request: Request, collection_id: str, person: Asker) -> Response:
    await portal_of(request).session(person.principal).delete_collection(collection_id)
    return reply({"collection": collection_id, "done": "deleted"})


@router.post("/collections/{collection_id}/run", summary="Run a collection", status_code=202)
async def run_collection(request: Request, collection_id: str, person: Asker) -> Response:
    run_id = await portal_of(request).session(person.principal).run_collection(collection_id)
    return reply({"collection": collection_id, "run_id": run_id}, 202)


@router.get("/collection-runs/{run_id}", summary="A collection's run, each job's step")
async def collection_run(request: Request, run_id: str, person: Asker) -> Response:
    found = await CollectionRuns(portal_of(request).bus.js).get(run_id)
    if found is None:
        raise NotFound(f"no collection run {run_id!r}")
    return reply(found)


@router.post("/collection-runs/{run_id}/cancel", summary="Cancel a collection's run")
async def cancel_collection_run(request: Request, run_id: str, person: Asker) -> Response:
    await portal_of(request).session(person.principal).cancel_collection(run_id)
    return reply({"run_id": run_id, "done": "cancelled"})


@router.get("/schedules", summary="Every schedule, with its next fire and its last")
async def schedules(request: Request, person: Asker, job: str | None = None) -> Response:
    store = portal_of(request).bus.store
    jobs = [await store.job(job)] if job else await store.jobs()
    found = [] if job else await store.collections()
    return reply(await schedule_rows(portal_of(request).bus.js, jobs, found, utcnow()))


@router.post(
    "/jobs/{job_id}/schedules/{name}/{verb}", summary="Enable or disable one of a job's schedules"
)
async def set_schedule(
    request: Request,
    job_id: str,
    name: str,
    verb: Literal["enable", "disable"],
    person: Asker,
) -> Response:
    portal = portal_of(request)
    job = await portal.bus.store.job(job_id)
    changed = with_schedule(job, name, verb == "enable")
    await portal.session(person.principal).apply_job(changed)
    return reply({"job": job.id, "schedule": name, "done": f"{verb}d"})
