"""The command line starts without loading what only some commands need: FastStream and
its dependencies took half of the start-up of every command (0.3 s of 0.5 s here), and
building the parser once imported every command's module — NATS, the planner, the
providers, openpyxl — just to print `idsync --help` (0.3 s against 0.025 s for a bare
`python -c pass`; docs/performance.md)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli.main import NOUNS, Handler, build_parser

ROOT = Path(__file__).resolve().parents[2]

# Loaded by `idsync --help`: none of these. Each is a top-level package or a module.
NOT_FOR_HELP = (
    "nats",
    "faststream",
    "asyncpg",
    "ldap3",
    "openpyxl",
    "aiosqlite",
    "core.engine",
    "services.providers",
    "services.runner",
    "structlog",
    "asyncio",
)
SERVICE_FRAMEWORK = ("faststream", "fast_depends", "pydantic", "anyio")
HEAVY_FOR_A_LISTING = (*SERVICE_FRAMEWORK, "core.engine", "services.runner", "openpyxl")


def loaded_by(argv: list[str], watched: tuple[str, ...]) -> list[str]:
    """Which of `watched` are in sys.modules once `idsync ARGV` has parsed its arguments
    (it exits there: --help, or a command that finds no server at a closed port)."""
    code = (
        "import sys\n"
        "from services.cli.main import main\n"
        f"try:\n    main({argv!r})\n"
        "except SystemExit:\n    pass\n"
        f"print(sorted(m for m in {watched!r} if m in sys.modules))"
    )
    env = {"IDSYNC_NATS_URL": "nats://127.0.0.1:9", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**env, "PYTHONPATH": str(ROOT)},
    )
    return [line for line in done.stdout.splitlines() if line.startswith("[")]


def test_help_loads_no_command_module_nor_what_they_need() -> None:
    assert loaded_by(["--help"], NOT_FOR_HELP) == ["[]"]


def test_the_command_line_loads_no_service_framework() -> None:
    assert loaded_by(["job", "list"], SERVICE_FRAMEWORK) == ["[]"]


@pytest.mark.parametrize(
    "argv",
    [["job", "list"], ["job", "show", "x"], ["run", "list"], ["connection", "list"]],
    ids=" ".join,
)
def test_a_listing_loads_neither_the_planner_nor_the_report_writers(argv: list[str]) -> None:
    assert loaded_by(argv, HEAVY_FOR_A_LISTING) == ["[]"]


def commands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every command: each parser with no verbs under it."""
    nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not nested:
        yield parser
    for action in nested:
        for sub in action.choices.values():
            yield from commands(sub)


def test_every_command_names_a_handler_that_exists() -> None:
    found = list(commands(build_parser()))
    assert {"idsync job preview", "idsync up", "idsync user list"} <= {c.prog for c in found}
    for command in found:
        handler = command.get_default("handler")
        assert isinstance(handler, Handler), command.prog
        assert callable(handler.resolve()), f"{command.prog}: {handler.reference}"


def test_a_noun_alone_parses_and_helps_as_the_whole_tree_does() -> None:
    """`idsync job run …` builds the job noun's parsers only (main.py `build_parser`):
    each of its commands reads and explains its arguments as in the whole tree."""
    whole = {c.prog: c for c in commands(build_parser())}
    for noun in NOUNS:
        alone = list(commands(build_parser(noun)))
        assert alone and all(c.prog.split()[1] == noun for c in alone)
        for command in alone:
            assert command.format_help() == whole[command.prog].format_help(), command.prog
            assert command.get_default("handler").reference == (
                whole[command.prog].get_default("handler").reference
            )
