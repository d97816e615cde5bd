"""Saving and deleting templates: commands the workflow carries out (people only read
the buckets). A saved template that lists owners is changed or deleted by them alone;
the shipped ones (core/ad_templates.py) are neither."""

from __future__ import annotations

import msgspec

from core.ad_templates import builtin
from schemas.commands import CommandReply, template_delete_decoder
from schemas.ids import is_slug
from schemas.templates import Template
from services.common.bus import Bus
from services.common.logging import get_logger

log = get_logger("idsync.workflow")
_decoder = msgspec.json.Decoder(Template)


def _refused(
    principal: str, template_id: str, stored: Template | None, verb: str
) -> CommandReply | None:
    """Why the template may not be changed (deleted): one idsync ships is nobody's to
    change (what the command says), another's is denied to all but its owners."""
    refused = _refusal(principal, template_id, stored, verb)
    if refused is None:
        return None
    return CommandReply(ok=False, error=refused, denied=builtin(template_id) is None)


def _refusal(principal: str, template_id: str, stored: Template | None, verb: str) -> str | None:
    if builtin(template_id) is not None:
        return (
            f"template {template_id} ships with idsync: nobody may {verb} it; "
            "save a copy under another id"
        )
    if stored is not None and stored.owners and principal not in stored.owners:
        owners = ", ".join(stored.owners)
        return f"template {template_id} is owned by {owners}: only they may {verb} it"
    return None


async def apply_template(bus: Bus, principal: str, body: bytes) -> CommandReply:
    try:
        template = _decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a template: {error}")
    if not is_slug(template.id):
        return CommandReply(ok=False, error=f"{template.id!r} is not a valid template id")
    stored = await bus.store.find_template(template.id)
    if (refused := _refused(principal, template.id, stored, "change")) is not None:
        return refused
    await bus.store.put_template(msgspec.structs.replace(template, builtin=False))
    log.info("template saved", template=template.id, by=principal)
    return CommandReply(ok=True, note="updated" if stored is not None else "applied")


async def delete_template(bus: Bus, principal: str, body: bytes) -> CommandReply:
    try:
        command = template_delete_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a template-delete command: {error}")
    stored = await bus.store.find_template(command.template_id)
    if (refused := _refused(principal, command.template_id, stored, "delete")) is not None:
        return refused
    if stored is None:
        return CommandReply(ok=False, error=f"no template {command.template_id!r}")
    await bus.store.delete_template(command.template_id)
    return CommandReply(ok=True, note="deleted")
