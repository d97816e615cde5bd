"""`idsync connection …` and `idsync job …`: apply, list, show, run, preview, delete."""

from __future__ import annotations

import argparse
from pathlib import Path

import msgspec

from schemas.connections import Connection
from schemas.ids import is_slug
from services.common.definitions import check_job, load_connections, load_job
from services.common.errors import BadInput
from services.common.watermarks import Memory
from services.runner.engine.report import report
from services.runner.planning import Asked, plan_run
from services.runner.providers.reach import check_reachable, writers
from services.workflow.gate import approval_problems
from services.workflow.ownership import unowned_connection_problems

from .client import connect
from .export import export_format, write_report
from .output import print_json, print_table
from .runs import fold
from .samples import preview_samples
from .watch import wait_for_run


async def connection_apply(args: argparse.Namespace) -> int:
    connections = load_connections(Path(args.file))
    async with connect(args.settings) as session:
        await session.apply_connections(connections)
    if args.json:
        print_json(connections)
    else:
        for connection in connections:
            print(f"applied connection {connection.id} ({_provider(connection)})")
    return 0


async def connection_add(args: argparse.Namespace) -> int:
    if not is_slug(args.id):
        raise BadInput(f"{args.id!r} is not a valid connection id: use a-z, 0-9, _ and -")
    fields: dict[str, object] = {"provider": args.provider, "id": args.id}
    for pair in args.set or []:
        name, sep, value = pair.partition("=")
        if not sep:
            raise BadInput(f"--set {pair!r}: expected NAME=VALUE, e.g. --set directory=/srv/hr")
        fields[name] = value
    for name in ("directory", "path"):
        if isinstance(fields.get(name), str):
            fields[name] = str(Path(str(fields[name])).absolute())
    try:
        connection: Connection = msgspec.convert(fields, Connection)
    except msgspec.ValidationError as error:
        raise BadInput(f"connection {args.id}: {error}") from None
    async with connect(args.settings) as session:
        await session.apply_connections([connection])
    print(f"added connection {args.id} ({args.provider})")
    return 0


async def connection_list(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        connections = await session.store.connections()
    if args.json:
        print_json(connections)
        return 0
    if not connections:
        print("no connections yet: `idsync connection apply connections.toml` adds some")
        return 0
    rows = [(c.id, _provider(c), c.title, _where(c)) for c in connections]
    print_table(rows, ("ID", "PROVIDER", "TITLE", "WHERE"))
    return 0


async def connection_test(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        connection = await session.store.connection(args.id)
        jobs = await session.store.jobs()
    message = await check_reachable(connection, writers(jobs, args.id))
    if args.json:
        print_json({"id": args.id, "ok": True, "message": message})
    else:
        print(f"{args.id}: ok — {message}")
    return 0


async def job_apply(args: argparse.Namespace) -> int:
    job = load_job(Path(args.file))
    if problems := approval_problems(job):
        raise BadInput("\n".join(f"{args.file}: {problem}" for problem in problems))
    async with connect(args.settings) as session:
        connections = {c.id: c for c in await session.store.connections()}
        check_job(job, connections, origin=Path(args.file))  # here, to name the file
        if problems := unowned_connection_problems(job, connections):
            raise BadInput("\n".join(f"{args.file}: {problem}" for problem in problems))
        existed = await session.apply_job(job)
    if args.json:
        print_json(job)
    else:
        print(f"{'updated' if existed else 'applied'} job {job.id} ({job.display_title})")
    return 0


async def job_list(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        jobs = await session.store.jobs()
        runs = fold(await session.journal())
    last = {run.job_id: run for run in runs}
    if args.json:
        print_json(jobs)
        return 0
    if not jobs:
        print("no jobs yet: `idsync job apply JOB.toml` adds one")
        return 0
    rows = []
    for job in jobs:
        run = last.get(job.id)
        every = job.schedule.every if job.schedule and job.schedule.every else "-"
        last_run = (
            f"{run.state} {run.requested_at:%Y-%m-%d %H:%M}"
            if run and run.requested_at
            else "never"
        )
        rows.append(
            (
                job.id,
                job.display_title,
                job.source.connection,
                job.destination.connection,
                f"every {every}" if every != "-" else "-",
                last_run,
            )
        )
    print_table(rows, ("ID", "TITLE", "SOURCE", "DESTINATION", "SCHEDULE", "LAST RUN"))
    return 0


async def job_show(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        job = await session.store.job(args.id)
    if args.json:
        print_json(job)
    else:
        print(msgspec.json.format(msgspec.json.encode(job), indent=2).decode())
    return 0


async def job_delete(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        await session.delete_job(args.id)
    print(f"deleted job {args.id} (its runs stay in the journal)")
    return 0


async def job_run(args: argparse.Namespace) -> int:
    async with connect(args.settings, patient=args.wait) as session:
        if not args.wait:
            run_id = await session.request_run(args.id, args.key, args.changed_only)
            print_json({"run_id": run_id}) if args.json else print(run_id)
            return 0
        return await wait_for_run(
            session, args.id, args.key, as_json=args.json, changed_only=args.changed_only
        )


async def job_preview(args: argparse.Namespace) -> int:
    """Plan without writing: read both sides here and show what a run would do."""
    if args.sample is not None:
        return await preview_samples(args)
    if args.format and not args.export:
        raise BadInput(f"--format {args.format} needs --export FILE, the file to write")
    export = Path(args.export) if args.export else None
    fmt = export_format(export, args.format) if export else ""  # checked before any reading
    async with connect(args.settings) as session:
        job = await session.store.job(args.id)
        # The very inputs a run has (the job's watermark and absences): the same plan.
        asked = Asked(keys=args.key, changed_only=args.changed_only)
        planned = await plan_run(session.store, Memory(session.js), job, asked)
    if export is not None:
        the_report = report(
            job.id,
            planned.plan.hash,
            planned.plan.counts,
            planned.plan.changes,
            source_records=planned.source_records,
            destination_records=planned.destination_records,
            warnings=planned.plan.warnings,
        )
        write_report(the_report, export, fmt)
        if not args.json:
            print(f"exported {len(the_report.rows)} rows ({fmt}) to {export}")
    if args.json:
        print_json(
            {
                "plan_hash": planned.plan.hash,
                "counts": planned.plan.counts,
                "changes": planned.plan.changes,
                "warnings": planned.plan.warnings,
                "record_errors": planned.record_errors,
            }
        )
        return 0
    counts = planned.plan.counts
    print(
        f"{job.id}: {planned.source_records} source records, "
        f"{planned.destination_records} in the destination"
    )
    print(
        f"  {counts.create} to create, {counts.update} to update, {counts.delete} to delete, "
        f"{counts.disable} to disable, {counts.move} to move, {counts.unchanged} unchanged, "
        f"{counts.skipped} skipped — plan {planned.plan.hash[:12]}"
    )
    for change in planned.plan.changes[: args.limit]:
        fields = ", ".join(
            f"{name}: {change.before.get(name, '∅')!s} → {value!s}"
            if change.action == "update"
            else f"{name}={value!s}"
            for name, value in change.set.items()
        )
        cleared = "".join(f", {name}: {change.before.get(name)!s} → ∅" for name in change.clear)
        print(f"  {change.action:<7} {change.key}  {fields}{cleared}")
    hidden = len(planned.plan.changes) - args.limit
    if hidden > 0:
        print(f"  … and {hidden} more (--limit N shows more, --json shows all)")
    for warning in planned.plan.warnings:
        print(f"  warning: {warning}")
    for failed in planned.record_errors[: args.limit]:  # their transformations failed
        print(f"  failed  {failed.key}: {failed.message}")
    return 0


def _provider(connection: Connection) -> str:
    return str(connection.__struct_config__.tag)


def _where(connection: Connection) -> str:
    return str(getattr(connection, "directory", None) or getattr(connection, "path", ""))
