"""`idsync job duplicate|rename|export|import`: managing jobs as a whole.

Every change goes the way `idsync job apply` goes (`job.apply_checked`: checked here, then
through the workflow under the job's ownership when the server has users)."""

from __future__ import annotations

import argparse
from pathlib import Path

import msgspec

from core.errors import BadInput
from schemas.ids import is_slug

from .client import connect
from .job import apply_checked


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


async def job_export(args: argparse.Namespace) -> int:
    """The jobs (all, or those named) and the connections they use, as files in a folder:
    connections.<fmt> and jobs/<id>.<fmt>, which `idsync job import FOLDER` applies."""
    from services.common.exporting import connections_text, job_text

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
    if not jobs:
        raise BadInput("no jobs to export")
    (folder / "jobs").mkdir(parents=True, exist_ok=True)
    written = folder / f"connections.{fmt}"
    written.write_text(connections_text(connections, fmt), encoding="utf-8")
    for job in jobs:
        (folder / "jobs" / f"{job.id}.{fmt}").write_text(job_text(job, fmt), encoding="utf-8")
    print(
        f"exported {len(jobs)} jobs to {folder / 'jobs'} and the {len(connections)} connections "
        f"they use to {written} (secrets stay where their references point)"
    )
    return 0


async def job_import(args: argparse.Namespace) -> int:
    """A folder `job export` wrote (its connections first, then its jobs), or one job file."""
    from core.checks.connections import check_connections
    from services.common.definitions import load_connections, load_job
    from services.providers import FACTS

    path = Path(args.path)
    connection_files, job_files = _files_of(path)
    if not connection_files and not job_files:
        raise BadInput(f"{path}: no connections.toml nor jobs/*.toml to import")
    connections = []
    for file in connection_files:
        loaded = load_connections(file)
        check_connections(loaded, FACTS, origin=str(file))
        connections += loaded
    jobs = [(file, load_job(file)) for file in job_files]
    async with connect(args.settings) as session:
        if connections:
            await session.apply_connections(connections)
        for file, job in jobs:
            await apply_checked(session, job, str(file))
    print(f"imported {len(connections)} connections and {len(jobs)} jobs from {path}")
    return 0


def _files_of(path: Path) -> tuple[list[Path], list[Path]]:
    """The connection files and job files of an exported folder, or one job file."""
    if not path.is_dir():
        return [], [path]
    found = [path / f"connections.{fmt}" for fmt in ("toml", "json")]
    jobs = sorted(f for f in (path / "jobs").glob("*") if f.suffix.lower() in (".toml", ".json"))
    return [f for f in found if f.exists()], jobs
