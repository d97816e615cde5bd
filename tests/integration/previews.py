"""`idsync job preview --json` run in process, its document read back (the tests' one way)."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from services.cli.main import build_parser
from services.common.settings import Settings


async def preview_json(
    settings: Settings, capsys: pytest.CaptureFixture[str], job: str, *options: str
) -> dict[str, Any]:
    """What `idsync job preview JOB --json OPTIONS` prints, as the command gives it."""
    args: argparse.Namespace = build_parser().parse_args(
        ["job", "preview", job, "--json", *options]
    )
    args.settings = settings
    capsys.readouterr()
    assert await args.handler(args) == 0
    lines = capsys.readouterr().out.splitlines()
    shown: dict[str, Any] = json.loads("\n".join(lines[lines.index("{") :]))
    return shown
