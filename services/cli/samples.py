"""`idsync job preview JOB --sample N`: the first N source records of each object type and
what every mapped field becomes, transformations applied — to try a field map without
running the job."""

from __future__ import annotations

import argparse

from core.engine.mapping import compile_mapping
from core.engine.samples import GENERATED, Sample, sample
from core.errors import BadInput
from schemas.values import Binary, Record, Value
from services.providers.base import Provider
from services.runner.planning import default_context, open_sides

from .client import connect
from .output import print_json, shown_value


async def preview_samples(args: argparse.Namespace) -> int:
    if args.sample < 1:
        raise BadInput(f"--sample {args.sample}: expected how many records to show, such as 5")
    async with connect(args.settings) as session:
        job = await session.store.job(args.id)
        # Compiled before reading: a transformation that cannot work is said first.
        context = default_context(job, run_id="preview")
        compiled = [compile_mapping(mapping, context) for mapping in job.objects]
        async with open_sides(session.store, job) as sides:
            sources = [sides.source, *(source for source, _ in sides.others)]
            read = [await first_records(source, args.sample) for source in sources]
    samples = [
        [sample(mapping, record) for record in records]
        for mapping, records in zip(compiled, read, strict=True)
    ]
    if args.json:
        print_json({"job": job.id, "samples": [one for some in samples for one in some]})
        return 0
    for at, (mapping, some) in enumerate(zip(job.objects, samples, strict=True)):
        kind = f" {mapping.type}" if len(job.objects) > 1 else ""
        print(
            f"{'' if not at else chr(10)}{job.id}: the first {len(some)}{kind} source records "
            "and what they become"
        )
        for number, one in enumerate(some, start=1):
            print_sample(number, one)
    return 0


async def first_records(source: Provider, count: int) -> list[Record]:
    """The first `count` records: reading stops there."""
    found: list[Record] = []
    stream = source.read(max(count, 1))
    try:
        async for batch in stream:
            found += batch[: count - len(found)]
            if len(found) >= count:
                break
    finally:
        aclose = getattr(stream, "aclose", None)  # an async generator: close it now
        if aclose is not None:
            await aclose()
    return found


def print_sample(number: int, one: Sample) -> None:
    print(f"\n#{number}  " + "  ".join(f"{k}={_text(v)}" for k, v in one.source.items()))
    if one.error is not None:
        print(f"  fails: {one.error}")
        return
    width = max((len(name) for name in [*one.mapped, *one.generated]), default=0)
    for name, value in one.mapped.items():
        print(f"  → {name:<{width}}  {'∅' if value is None else _text(value)}")
    for name in one.generated:
        print(f"  → {name:<{width}}  {GENERATED}")


def _text(value: Value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(shown_value, value)) + "]"
    if isinstance(value, Binary):
        return f"({len(value.data)} bytes)"
    return shown_value(value)
