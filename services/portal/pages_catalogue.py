"""The pages of templates, collections, schedules and roles: lists read from the buckets,
and the forms that send the same commands as the API (`api_catalogue.py`,
`api_roles.py`) in the signed-in person's name — the workflow decides, and its refusal
is shown."""

from __future__ import annotations

from typing import Literal

import msgspec
from fastapi import APIRouter, Request
from fastapi.responses import Response

from core import roles as rules
from core.ad_templates import BUILTIN
from core.errors import IdsyncError
from core.templates import placeholders
from core.upcoming import next_run, schedule_text
from schemas.commands import encode
from schemas.ids import utcnow
from schemas.roles import GrantCommand, whoami_decoder
from services.common import roles as stored_roles
from services.common.collection_runs import CollectionRuns
from services.common.schedule_list import schedule_rows, with_schedule

from .guard import portal_of
from .pages import _back as back
from .pages import _form as form_of
from .pages import _page as page
from .pages import _person as person_of

router = APIRouter()


@router.get("/templates")
async def templates_page(request: Request) -> Response:
    person = await person_of(request)
    saved = await portal_of(request).bus.store.templates()
    rows = [
        {
            "id": t.id,
            "kind": t.kind,
            "title": t.display_title,
            "from": "shipped" if t.builtin else "saved",
            "parameters": sorted(placeholders(t) | set(t.parameters)),
        }
        for t in [*BUILTIN, *sorted(saved, key=lambda t: t.id)]
    ]
    return page(request, "templates.html", person, templates=rows)


@router.get("/collections")
async def collections_page(request: Request) -> Response:
    person = await person_of(request)
    portal = portal_of(request)
    runs, now, rows = CollectionRuns(portal.bus.js), utcnow(), []
    for collection in sorted(
        await portal.bus.store.collections(), key=lambda c: (not c.pinned, c.id)
    ):
        kept = await runs.of(collection.id)
        rows.append(
            {
                "id": collection.id,
                "title": collection.display_title,
                "jobs": [step.job for step in collection.jobs],
                "enabled": collection.enabled,
                "pinned": collection.pinned,
                "schedule": schedule_text(collection),
                "next_run": next_run(collection, now),
                "last_run": kept[-1] if kept else None,
            }
        )
    return page(request, "collections.html", person, collections=rows)


@router.post("/collections/{collection_id}/run")
async def run_collection(request: Request, collection_id: str) -> Response:
    person = await person_of(request)
    await form_of(request, person)
    try:
        run_id = await portal_of(request).session(person.principal).run_collection(collection_id)
    except IdsyncError as error:
        return back("/collections", error=str(error))
    return back("/collections", note=f"collection {collection_id} run {run_id} asked for")


@router.get("/schedules")
async def schedules_page(request: Request) -> Response:
    person = await person_of(request)
    portal = portal_of(request)
    store = portal.bus.store
    found = await schedule_rows(
        portal.bus.js, await store.jobs(), await store.collections(), utcnow()
    )
    return page(request, "schedules.html", person, schedules=found)


@router.post("/jobs/{job_id}/schedules/{name}/{verb}")
async def switch_schedule(
    request: Request, job_id: str, name: str, verb: Literal["enable", "disable"]
) -> Response:
    person = await person_of(request)
    await form_of(request, person)
    portal = portal_of(request)
    try:
        job = await portal.bus.store.job(job_id)
        changed = with_schedule(job, name, verb == "enable")
        await portal.session(person.principal).apply_job(changed)
    except IdsyncError as error:
        return back("/schedules", error=str(error))
    return back("/schedules", note=f"schedule {name} of job {job_id} {verb}d")


@router.get("/roles")
async def roles_page(request: Request) -> Response:
    person = await person_of(request)
    portal = portal_of(request)
    entries = await stored_roles.entries(portal.bus.js)
    shown = [stored_roles.role_view(r, entries.get(r.id)) for r in rules.all_roles(entries)]
    answer = await portal.session(person.principal).ask("whoami", b"{}")
    mine = msgspec.to_builtins(whoami_decoder.decode(answer.note))
    return page(
        request, "roles.html", person, roles=shown, in_force=rules.in_force(entries), me=mine
    )


@router.post("/roles/{verb}")
async def grant_form(request: Request, verb: Literal["grant", "revoke"]) -> Response:
    person = await person_of(request)
    fields = await form_of(request, person)
    command = GrantCommand(
        role_id=fields.get("role", ""), grantee=fields.get("grantee", "").strip()
    )
    try:
        answer = await portal_of(request).session(person.principal).ask(verb, encode(command))
    except IdsyncError as error:
        return back("/roles", error=str(error))
    return back("/roles", note=answer.note)
