"""Planning a million records against a million, next to a plain-Python hash join.

    .venv/bin/python bench/plan_million.py [--records 1000000]

Writes two CSV files (10 text fields, about 200 bytes a record): the source, and the
destination as a previous run would have left it, with 1% of the source new, 1% of the
destination gone from the source and 5% with one field changed. Then, each in a process
of its own so its peak memory is its own, on the same files in the same run:
  reference  csv.DictReader of both files into dicts by key (the same transformations
             in plain Python), then a hash join: creates, updates (the changed fields),
             deletes
  idsync     planning.plan_job over two CSV providers (streams), with the job's
             transformations: the plan a run would apply, its hash, its counts
and prints time and peak RSS of each, and the ratio. Targets: within 3x of the
reference's time, under 400 MB peak.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE_FIELDS = [
    "employee_id",
    "first_name",
    "last_name",
    "email",
    "department",
    "title",
    "phone",
    "city",
    "country",
    "manager",
]
DESTINATION_FIELDS = [
    "employee_id",
    "given_name",
    "surname",
    "cn",
    "mail",
    "department",
    "title",
    "phone",
    "city",
    "country",
]
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
DEPARTMENTS = ["Research and Development", "Finance and Controlling", "Human Resources"]
TITLES = ["Senior Software Engineer ", "Principal Accountant", " Head of Recruiting"]
CITIES = ["Lausanne, Avenue de la Gare", "Zürich, Bahnhofstrasse", "Genève, Rue du Rhône"]
JOB_FIELDS = [
    {"to": "employee_id"},
    {"to": "given_name", "from": "first_name"},
    {"to": "surname", "from": "last_name"},
    {"to": "cn", "transform": {"join": ["first_name", "last_name"], "separator": " "}},
    {"to": "mail", "from": "email", "transform": ["trim", "lower"]},
    {"to": "department"},
    {"to": "title", "transform": "trim"},
    {"to": "phone", "transform": {"default": "none"}},
    {"to": "city"},
    {"to": "country", "transform": "upper"},
]


def person(number: int, rng: random.Random) -> dict[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "employee_id": f"E{number:08d}",
        "first_name": first,
        "last_name": last,
        "email": f" {first}.{last}.{number}@Example.ORG",
        "department": rng.choice(DEPARTMENTS),
        "title": rng.choice(TITLES) + " ",
        "phone": f"+41 21 {number % 1000:03d} {number % 100:02d} {number % 97:02d}",
        "city": rng.choice(CITIES),
        "country": "ch",
        "manager": f"uid=E{rng.randrange(1, 1000):08d},ou=People,dc=example,dc=org",
    }


def mapped(row: dict[str, str]) -> dict[str, str]:
    """What the job makes of a source row (the reference does the same)."""
    return {
        "employee_id": row["employee_id"],
        "given_name": row["first_name"],
        "surname": row["last_name"],
        "cn": f"{row['first_name']} {row['last_name']}",
        "mail": row["email"].strip().lower(),
        "department": row["department"],
        "title": row["title"].strip(),
        "phone": row["phone"] or "none",
        "city": row["city"],
        "country": row["country"].upper(),
    }


def generate(folder: Path, count: int) -> None:
    rng = random.Random(20261121)
    one = count // 100
    with (
        (folder / "source.csv").open("w", newline="", encoding="utf-8") as s,
        (folder / "destination.csv").open("w", newline="", encoding="utf-8") as d,
    ):
        source = csv.DictWriter(s, SOURCE_FIELDS)
        destination = csv.DictWriter(d, DESTINATION_FIELDS)
        source.writeheader()
        destination.writeheader()
        for number in range(count + one):
            row = person(number, rng)
            if number < count - one:  # on both sides; every 20th changed since
                target = mapped(row)
                if number % 20 == 0:
                    target["department"] = "Former department"
                source.writerow(row)
                destination.writerow(target)
            elif number < count:  # gone from the source: to delete
                destination.writerow(mapped(row))
            else:  # new in the source: to create
                source.writerow(row)


def reference(folder: Path) -> dict[str, int]:
    with (folder / "source.csv").open(newline="", encoding="utf-8") as f:
        wanted = {row["employee_id"]: mapped(row) for row in csv.DictReader(f)}
    with (folder / "destination.csv").open(newline="", encoding="utf-8") as f:
        found = {row["employee_id"]: row for row in csv.DictReader(f)}
    creates, updates, unchanged = [], [], 0
    for key, record in wanted.items():
        existing = found.get(key)
        if existing is None:
            creates.append(record)
            continue
        changed = {name: value for name, value in record.items() if existing.get(name) != value}
        if changed:
            updates.append((key, changed))
        else:
            unchanged += 1
    deletes = [key for key in found if key not in wanted]
    return {
        "create": len(creates),
        "update": len(updates),
        "delete": len(deletes),
        "unchanged": unchanged,
    }


async def idsync(folder: Path) -> dict[str, int]:
    import msgspec

    from core.engine import destination_multi_valued, source_multi_valued
    from schemas.connections import CsvConnection
    from schemas.jobs import Endpoint, Job, ObjectMapping
    from services.providers.base import Layout
    from services.providers.csv.provider import CsvProvider
    from services.runner.planning import Sides, default_context, plan_job

    mapping = msgspec.convert(
        {"keys": ["employee_id"], "on_destination_only": "delete", "fields": JOB_FIELDS},
        ObjectMapping,
    )
    job = Job(
        id="bench",
        source=Endpoint(connection="files", file="source.csv"),
        destination=Endpoint(connection="files", file="destination.csv"),
        objects=[mapping],
    )
    connection = CsvConnection(id="files", directory=str(folder))
    source = CsvProvider(connection, job.source, Layout(multi_valued=source_multi_valued(mapping)))
    destination = CsvProvider(
        connection,
        job.destination,
        Layout(
            keys=tuple(mapping.keys),
            fields=tuple(f.to for f in mapping.fields),
            multi_valued=destination_multi_valued(mapping),
        ),
    )
    await source.open(write=False)
    await destination.open(write=False)
    planned = await plan_job(job, Sides(source, destination), context=default_context(job))
    counts = planned.plan.counts
    return {
        "create": counts.create,
        "update": counts.update,
        "delete": counts.delete,
        "unchanged": counts.unchanged,
    }


def measure(side: str, folder: Path) -> None:
    """In the child process: time one side, report it and the process's peak RSS."""
    started = time.perf_counter()
    counts = reference(folder) if side == "reference" else asyncio.run(idsync(folder))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "counts": counts}))


def child(side: str, folder: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", side, "--folder", str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--measure", choices=["reference", "idsync"])
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.folder)
        return
    with tempfile.TemporaryDirectory(prefix="idsync-million-") as name:
        folder = Path(name)
        started = time.perf_counter()
        generate(folder, args.records)
        size = (folder / "source.csv").stat().st_size / args.records
        print(
            f"{args.records:,} records a side, {size:.0f} bytes a source record, "
            f"made in {time.perf_counter() - started:.1f}s"
        )
        ref = child("reference", folder)
        ours = child("idsync", folder)
    if ref["counts"] != ours["counts"]:
        raise SystemExit(f"the plans differ: reference {ref['counts']}, idsync {ours['counts']}")
    print(f"counts: {ours['counts']}")
    for name, result in (("reference", ref), ("idsync", ours)):
        print(f"{name:10} {result['seconds']:7.1f} s   peak RSS {result['peak_mb']:6.0f} MB")
    ratio = float(ours["seconds"]) / float(ref["seconds"])  # type: ignore[arg-type]
    print(
        f"idsync / reference: {ratio:.2f}x (target ≤ 3x), peak {ours['peak_mb']:.0f} MB "
        "(target < 400 MB)"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
