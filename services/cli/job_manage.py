"""`idsync job duplicate|rename|pin|unpin|export|import`: managing jobs as a whole.

Every change goes the way `idsync job apply` goes (`job.apply_checked`: checked here, then
through the workflow under the job's ownership when the server has users)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from core.errors import BadInput
from schemas.ids import is_slug

from .client import connect
from .job import apply_checked, check_for_apply


async def job_duplicate(args: argparse.Namespace) -> int:
    if not is_slug(args.new_id):
        raise BadInput(f"{args.new_id!r}: expected an id of a-z, 0-9, _ and - (64 at most)")
    async with connect(args.settings) as session:
        job = await session.store.job(args.id)
        if await session.store.find_job(args.new_id) is not None:
            raise BadInput(f"job {args.new_id} exists already: choose another id")
        copy = msgspec.structs.replace(
            job,
            id=args.new_id,
            title=args.title or f"{job.display_title} (copy)",
            # A copy of a scheduled job would run beside it: it starts disabled.
            enabled=False,
        )
        await apply_checked(session, copy, f"job {args.new_id}")
    print(
        f"job {args.new_id} ({copy.title}) is a copy of {args.id}, disabled: "
        f"`idsync job enable {args.new_id}` when it is ready"
    )
    return 0


async def job_rename(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        job = await session.store.job(args.id)
        renamed = msgspec.structs.replace(job, title=args.title)
        await apply_checked(session, renamed, f"job {args.id}")
    print(f"job {args.id} is now titled {args.title!r} (its id stays)")
    return 0


async def job_pin(args: argparse.Namespace) -> int:
    return await _pin(args, True)


async def job_unpin(args: argparse.Namespace) -> int:
    return await _pin(args, False)


async def _pin(args: argparse.Namespace, pinned: bool) -> int:
    async with connect(args.settings) as session:
        job = await session.store.job(args.id)
        await apply_checked(session, msgspec.structs.replace(job, pinned=pinned), f"job {args.id}")
    print(f"job {args.id} " + ("pinned: listed first" if pinned else "no longer pinned"))
    return 0


async def job_export(args: argparse.Namespace) -> int:
    """The jobs (all, or those named), the connections they use and the collections of
    only those jobs — with every job, the templates people saved too — as files in a
    folder: connections.<fmt>, jobs/, collections/ and templates/, which `idsync job
    import FOLDER` applies."""
    from services.common.exporting import (
        collection_text,
        connections_text,
        job_text,
        template_text,
    )

    fmt = args.format
    folder = Path(args.to)
    async with connect(args.settings) as session:
        jobs = (
            [await session.store.job(i) for i in args.ids]
            if args.ids
            else await session.store.jobs()
        )
        used = {
            side for job in jobs for side in (job.source.connection, job.destination.connection)
        }
        connections = [c for c in await session.store.connections() if c.id in used]
        exported = {job.id for job in jobs}
        collections = [
            c
            for c in await session.store.collections()
            if {step.job for step in c.jobs} <= exported
        ]
        templates = [] if args.ids else await session.store.templates()
    if not jobs:
        raise BadInput("no jobs to export")
    written = folder / f"connections.{fmt}"
    files = [(written, connections_text(connections, fmt))]
    files += [(folder / "jobs" / f"{job.id}.{fmt}", job_text(job, fmt)) for job in jobs]
    files += [
        (folder / "collections" / f"{c.id}.{fmt}", collection_text(c, fmt)) for c in collections
    ]
    files += [(folder / "templates" / f"{t.id}.{fmt}", template_text(t, fmt)) for t in templates]
    for path, text in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(
        f"exported {len(jobs)} jobs, {len(collections)} collections and {len(templates)} "
        f"templates to {folder}, and the {len(connections)} connections they use to {written} "
        "(secrets stay where their references point)"
    )
    return 0


async def job_import(args: argparse.Namespace) -> int:
    """A folder `job export` wrote (its connections first, then its jobs, collections and
    templates), or one job file. Everything is read and checked before anything is
    applied: a file that does not read applies nothing."""
    from core.ad_templates import builtin
    from core.checks.collections import check_collection
    from core.checks.connections import check_connections
    from services.common.definitions import (
        load_collection,
        load_connections,
        load_job,
        load_template,
    )
    from services.providers import FACTS

    path = Path(args.path)
    found = _files_of(path)
    if not any(found.values()):
        raise BadInput(f"{path}: no connections.toml nor jobs/*.toml to import")
    connections = []
    for file in found["connections"]:
        loaded = load_connections(file)
        check_connections(loaded, FACTS, origin=str(file))
        connections += loaded
    jobs = [(file, load_job(file)) for file in found["jobs"]]
    collections = [(file, load_collection(file)) for file in found["collections"]]
    templates = [(file, load_template(file)) for file in found["templates"]]
    _one_file_each(jobs, "job")
    _one_file_each(collections, "collection")
    _one_file_each(templates, "template")
    for file, template in templates:
        if builtin(template.id) is not None:
            raise BadInput(
                f"{file}: template {template.id} ships with idsync: save it under another "
                "id; nothing was imported"
            )
    async with connect(args.settings) as session:
        # Every job and collection is checked against what the server holds with the
        # folder's own connections and jobs, before anything is applied: a folder whose
        # last job does not check leaves neither its connections nor its first jobs.
        known = {c.id: c for c in await session.store.connections()}
        known |= {c.id: c for c in connections}
        for file, job in jobs:
            check_for_apply(job, known, str(file))
        known_jobs = {job.id for job in await session.store.jobs()} | {j.id for _, j in jobs}
        for file, collection in collections:
            check_collection(collection, known_jobs, origin=str(file))
        if connections:
            await session.apply_connections(connections)
        for _, job in jobs:
            await session.apply_job(job)
        for _, collection in collections:
            await session.apply_collection(collection)
        for _, template in templates:
            await session.save_template(template)
    print(
        f"imported {len(connections)} connections, {len(jobs)} jobs, {len(collections)} "
        f"collections and {len(templates)} templates from {path}"
    )
    return 0


def _one_file_each(documents: Sequence[tuple[Path, Any]], kind: str) -> None:
    """Two files of one id would leave the one read last, whichever it is: refused."""
    files: dict[str, list[Path]] = {}
    for file, document in documents:
        files.setdefault(document.id, []).append(file)
    twice = [(i, paths) for i, paths in files.items() if len(paths) > 1]
    if twice:
        raise BadInput(
            "\n".join(
                f"{kind} {i!r} is in {len(paths)} files: " + ", ".join(str(p) for p in paths)
                for i, paths in twice
            )
            + "; keep one of each, nothing was imported"
        )


def _files_of(path: Path) -> dict[str, list[Path]]:
    """The files of an exported folder by kind (connections, jobs, collections, templates),
    or one job file."""
    if not path.exists():
        raise BadInput(
            f"{path}: no such folder or file; give the folder `idsync job export --to` "
            "wrote, or one job file"
        )
    if not path.is_dir():
        return {"connections": [], "jobs": [path], "collections": [], "templates": []}
    found = [path / f"connections.{fmt}" for fmt in ("toml", "json")]

    def documents(kind: str) -> list[Path]:
        files = (path / kind).glob("*")
        return sorted(f for f in files if f.suffix.lower() in (".toml", ".json"))

    return {
        "connections": [f for f in found if f.exists()],
        "jobs": documents("jobs"),
        "collections": documents("collections"),
        "templates": documents("templates"),
    }
