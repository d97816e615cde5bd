"""The API's roles (`/api/roles`, `/api/whoami`): read from the roles bucket, granted and
revoked by the commands `idsync user grant|revoke` send — the workflow decides (only
someone with users.manage may), and its refusal is answered 403."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from core import roles as rules
from core.errors import NotFound
from schemas.commands import encode
from schemas.roles import GrantCommand, whoami_decoder
from services.common import roles as stored_roles

from .api import reply
from .guard import Asker, portal_of

router = APIRouter(prefix="/api")


class Grant(BaseModel):
    grantee: str = Field(
        min_length=1,
        max_length=500,
        description="A principal, `group:NAME`, or `directory:CONNECTION:GROUP`.",
    )


@router.get("/whoami", summary="My roles and what they let me do (the workflow's answer)")
async def whoami(request: Request, person: Asker) -> Response:
    answer = await portal_of(request).session(person.principal).ask("whoami", b"{}")
    return reply(whoami_decoder.decode(answer.note))


@router.get("/roles", summary="Roles, built-in and custom, with who holds each")
async def roles(request: Request, person: Asker) -> Response:
    entries = await stored_roles.entries(portal_of(request).bus.js)
    shown = [stored_roles.role_view(r, entries.get(r.id)) for r in rules.all_roles(entries)]
    return reply({"in_force": rules.in_force(entries), "roles": shown})


@router.get("/roles/{role_id}", summary="One role")
async def role(request: Request, role_id: str, person: Asker) -> Response:
    entries = await stored_roles.entries(portal_of(request).bus.js)
    found = rules.definition(role_id, entries)
    if found is None:
        raise NotFound(f"no role {role_id!r}: GET /api/roles lists them")
    return reply(stored_roles.role_view(found, entries.get(found.id)))


@router.post("/roles/{role_id}/{verb}", summary="Grant a role to someone, or revoke it")
async def grant(
    request: Request,
    role_id: str,
    verb: Literal["grant", "revoke"],
    body: Grant,
    person: Asker,
) -> Response:
    command = GrantCommand(role_id=role_id, grantee=body.grantee.strip())
    answer = await portal_of(request).session(person.principal).ask(verb, encode(command))
    return reply({"role": role_id, "grantee": command.grantee, "done": answer.note})
