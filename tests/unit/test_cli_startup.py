"""The command line starts without loading what only the services need: FastStream and
its dependencies took half of the start-up of every command (0.3 s of 0.5 s here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_command_line_loads_no_service_framework() -> None:
    code = (
        "import sys, services.cli.main\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'faststream', 'fast_depends', 'pydantic', 'anyio'}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
