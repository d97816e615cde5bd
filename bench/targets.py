"""Every speed and memory target in one run, each next to its reference.

    .venv/bin/python bench/targets.py [--full]        (`make bench`, `make bench FULL=1`)

Runs each bench that measures a target, one after the other on this machine (the SQL and
LDAP ones start their own throwaway servers: they need the Debian packages
scripts/install-test-deps.sh installs, and skip, saying so, without them), shows what
each prints as it goes, then prints the targets as one table: what was measured, its
reference in the same run, the ratio, the target and whether it was met.

Quick by default (smaller sizes, fewer rounds: minutes); --full at the sizes the targets
are set for (100,000 people, 1,000,000 for memory; about half an hour). A bench states a
target through `verdict`, which prints it and, when IDSYNC_BENCH_TARGETS names a file,
adds it there as a line of JSON for this summary.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # for tests.*
TARGETS_FILE = "IDSYNC_BENCH_TARGETS"
"""The environment variable naming the file a bench adds its targets to."""


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """One target, as a bench measured it."""

    bench: str
    """The bench's file (`csv_to_sqlite.py`)."""
    what: str
    measured: str
    """The figure itself, with its unit ("1.43 s", "244 MiB")."""
    reference: str
    """What it is compared with, and its figure ("executemany 0.39 s"); empty for an
    absolute target."""
    ratio: float | None
    """measured / reference; None for an absolute target."""
    target: str
    """"≤ 3x", "< 0.5x", "< 500 MiB"."""
    met: bool


def verdict(target: Target) -> None:
    """Print a target's verdict, and keep it for the summary when one is being made."""
    met = "met" if target.met else "NOT met"
    against = f" = {target.ratio:.2f}x {target.reference}" if target.ratio is not None else ""
    print(f"  target {target.what}: {target.measured}{against} ({target.target}: {met})")
    if path := os.environ.get(TARGETS_FILE):
        with open(path, "ab") as kept:
            kept.write(msgspec.json.encode(target) + b"\n")


def within(
    bench: str,
    what: str,
    measured: float,
    reference: str,
    reference_value: float,
    limit: float,
    *,
    unit: str = "s",
    strictly: bool = False,
) -> Target:
    """A ratio target: `measured` within `limit` times `reference_value` (≤, or < when
    `strictly`)."""
    ratio = measured / reference_value
    return Target(
        bench=bench,
        what=what,
        measured=f"{measured:.2f} {unit}",
        reference=f"{reference} {reference_value:.2f} {unit}",
        ratio=ratio,
        target=f"{'<' if strictly else '≤'} {limit:g}x",
        met=ratio < limit if strictly else ratio <= limit,
    )


def below(bench: str, what: str, measured: float, limit: float, unit: str) -> Target:
    """An absolute target: `measured` under `limit`."""
    return Target(
        bench=bench,
        what=what,
        measured=f"{measured:.0f} {unit}",
        reference="",
        ratio=None,
        target=f"< {limit:g} {unit}",
        met=measured < limit,
    )


BENCHES: list[tuple[str, list[str], list[str]]] = [
    ("startup.py", ["--runs", "7"], ["--runs", "21"]),
    ("csv_to_sqlite.py", ["--people", "20000"], ["--people", "100000"]),
    ("first_run_memory.py", ["--people", "100000"], ["--people", "1000000"]),
    ("one_change.py", ["--runs", "5"], ["--runs", "15"]),
    ("ldap.py", ["--people", "5000", "--reads", "1"], ["--people", "20000", "--reads", "5"]),
    ("postgresql.py", [], ["--full"]),
    ("mysql.py", [], ["--full"]),
    ("postgresql_million.py", ["--rows", "100000"], ["--rows", "1000000"]),
]
"""Each bench measuring a target, with its quick and its full arguments."""


def _servers() -> dict[str, tuple[str, Callable[[], bool]]]:
    """What each bench's throwaway servers need, and whether this machine has it: the
    tests' own checks (tests/*_server.py)."""
    from tests import ldap_server, mysql_server, postgresql_server

    postgresql = ("PostgreSQL's server", lambda: postgresql_server.bin_folder() is not None)
    return {
        "ldap.py": ("slapd", lambda: ldap_server.slapd_binary() is not None),
        "postgresql.py": postgresql,
        "postgresql_million.py": postgresql,
        "mysql.py": (
            "MariaDB's server",
            lambda: (
                mysql_server.server_binary() is not None
                and shutil.which("mariadb-install-db") is not None
            ),
        ),
    }


def missing(bench: str) -> str | None:
    """What the bench needs that this machine lacks (None: nothing)."""
    need = _servers().get(bench)
    return need[0] if need is not None and not need[1]() else None


def table(targets: list[Target]) -> str:
    """The targets as a Markdown table."""
    rows = ["| bench | target | measured | reference | ratio | target | met? |"]
    rows.append("|---|---|---|---|---|---|---|")
    for t in targets:
        ratio = f"{t.ratio:.2f}x" if t.ratio is not None else "—"
        reference = t.reference or "—"
        met = "yes" if t.met else "**no**"
        rows.append(
            f"| {t.bench} | {t.what} | {t.measured} | {reference} | {ratio} | {t.target} | {met} |"
        )
    return "\n".join(rows)


def main(full: bool) -> int:
    kept = Path(tempfile.mkdtemp(prefix="idsync-bench-targets-")) / "targets.jsonl"
    kept.touch()
    env = {**os.environ, TARGETS_FILE: str(kept)}
    failed: list[str] = []
    skipped: list[str] = []
    started = time.monotonic()
    for bench, quick, sized in BENCHES:
        if lacking := missing(bench):
            skipped.append(f"{bench} (needs {lacking}: scripts/install-test-deps.sh)")
            continue
        arguments = sized if full else quick
        print(f"\n== bench/{bench} {' '.join(arguments)}", flush=True)
        done = subprocess.run([sys.executable, str(HERE / bench), *arguments], env=env)
        if done.returncode != 0:
            failed.append(bench)
    targets = [msgspec.json.decode(line, type=Target) for line in kept.read_bytes().splitlines()]
    shutil.rmtree(kept.parent, ignore_errors=True)
    minutes = (time.monotonic() - started) / 60
    print(
        f"\nTargets ({'full sizes' if full else 'quick sizes: --full for the real ones'}, "
        f"{minutes:.1f} min), each next to its reference measured in the same run:\n"
    )
    print(table(targets))
    met = sum(t.met for t in targets)
    print(f"\n{met} of {len(targets)} targets met.")
    for bench in skipped:
        print(f"skipped: {bench}")
    for bench in failed:
        print(f"FAILED: bench/{bench} (its output above says why)")
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the sizes the targets are set for")
    sys.exit(main(parser.parse_args().full))
