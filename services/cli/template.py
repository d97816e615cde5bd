"""`idsync template save|list|show|delete|use`: jobs and collections kept to make others
from (core/templates.py), and the Active Directory ones idsync ships
(core/ad_templates.py). A job made from a template is checked and applied as `idsync job
apply` would, and so is a collection."""

from __future__ import annotations

import argparse
import tomllib

from core.ad_templates import BUILTIN, builtin
from core.errors import BadInput, NotFound
from core.templates import collection_from, job_from, of_collection, of_job, placeholders
from schemas.ids import is_slug
from schemas.jobs import Endpoint
from schemas.templates import Template

from .client import Session, connect
from .job import apply_checked
from .output import print_json, print_table


async def _find(session: Session, template_id: str) -> Template:
    found = builtin(template_id) or await session.store.find_template(template_id)
    if found is None:
        raise NotFound(f"no template {template_id!r}: `idsync template list` shows them")
    return found


async def template_save(args: argparse.Namespace) -> int:
    if not is_slug(args.template):
        raise BadInput(f"{args.template!r}: expected an id of a-z, 0-9, _ and - (64 at most)")
    async with connect(args.settings) as session:
        if args.collection:
            made = of_collection(await session.store.collection(args.id), args.template, args.title)
        else:
            made = of_job(await session.store.job(args.id), args.template, args.title)
        existed = await session.save_template(made)
    print(saved_line(made.id, args.id, collection=args.collection, existed=existed))
    return 0


def saved_line(template_id: str, from_id: str, *, collection: bool, existed: bool) -> str:
    """What `template save` says it kept: a job but its sides; a collection whole (it
    has no source or destination)."""
    verb = "updated" if existed else "saved"
    if collection:
        kept = "its jobs in order, each one's on_failure, its schedules and mail"
        return f"{verb} template {template_id} from collection {from_id} ({kept})"
    kept = "everything but its source and destination"
    return f"{verb} template {template_id} from job {from_id} ({kept})"


async def template_list(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        saved = await session.store.templates()
    templates = [*BUILTIN, *sorted(saved, key=lambda t: t.id)]
    if args.json:
        print_json(templates)
        return 0
    rows = [
        (
            t.id,
            t.kind,
            t.display_title,
            "shipped" if t.builtin else "saved",
            ", ".join(f"{p}" for p in sorted(placeholders(t) | set(t.parameters))) or "-",
        )
        for t in templates
    ]
    print_table(rows, ("ID", "KIND", "TITLE", "FROM", "PARAMETERS"))
    return 0


async def template_show(args: argparse.Namespace) -> int:
    from services.common.exporting import template_text

    async with connect(args.settings) as session:
        template = await _find(session, args.id)
    if args.json:
        print_json(template)
        return 0
    print(template_text(template), end="")
    return 0


async def template_delete(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        await session.delete_template(args.id)
    print(f"deleted template {args.id} (the jobs made from it stay)")
    return 0


async def template_use(args: argparse.Namespace) -> int:
    """A job (or a collection) from the template, applied."""
    values = dict(_pair(text, "--set") for text in args.set or [])
    async with connect(args.settings) as session:
        template = await _find(session, args.template)
        if template.kind == "collection":
            if args.source or args.destination:
                raise BadInput(
                    f"template {template.id} makes a collection: no --source or --destination"
                )
            collection = collection_from(template, args.id, values, args.title or "")
            await session.apply_collection(collection)
            print(f"collection {collection.id} made from template {template.id}")
            return 0
        if not args.source or not args.destination:
            raise BadInput(
                f"template {template.id} makes a job: give --source CONNECTION and "
                "--destination CONNECTION (and their scope: --source-set file=people.csv, "
                "--destination-set container=OU=People,DC=example,DC=org)"
            )
        source = _endpoint(args.source, args.source_set, "--source-set")
        destination = _endpoint(args.destination, args.destination_set, "--destination-set")
        job = job_from(template, args.id, source, destination, values, args.title or "")
        if await session.store.find_job(job.id) is not None:
            raise BadInput(f"job {job.id} exists already: choose another id")
        await apply_checked(session, job, f"job {job.id} (template {template.id})")
    print(
        f"job {job.id} made from template {template.id}: "
        f"`idsync job preview {job.id}` shows what it would do"
    )
    return 0


def _endpoint(connection: str, settings: list[str] | None, option: str) -> Endpoint:
    from services.common.definitions import endpoint_from

    table: dict[str, object] = {"connection": connection}
    for text in settings or []:
        name, value = _pair(text, option)
        table[name] = _value(value)
    return endpoint_from(table, option)


def _pair(text: str, option: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise BadInput(f"{option} {text!r}: expected NAME=VALUE")
    return name.strip(), value


def _value(text: str) -> object:
    """TOML for a list, a table, true or false (`object_classes=["contact"]`), else text."""
    if text.strip() in ("true", "false") or text.lstrip().startswith(("[", "{")):
        try:
            return tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError as error:
            raise BadInput(f"{text!r}: not a TOML value ({error})") from None
    return text
