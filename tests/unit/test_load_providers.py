"""A runner loads the providers its connections name as it starts (runner/ahead.py):
their working modules, and those alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from schemas.connections import CsvConnection, SqliteConnection
from services.providers import load_providers

before = set(sys.modules)
loaded = load_providers([
    SqliteConnection(id="db", path="people.db"),
    CsvConnection(id="files", directory="."),
    CsvConnection(id="more", directory="more"),
])
print(json.dumps({"loaded": loaded, "new": sorted(set(sys.modules) - before)}))
"""


def test_the_connections_providers_are_loaded_and_no_other() -> None:
    found = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, check=True
    )
    result = json.loads(found.stdout)
    assert result["loaded"] == ["csv", "sqlite"]
    new = set(result["new"])
    assert {"services.providers.csv.provider", "services.providers.sqlite.provider"} <= new
    assert "aiosqlite" in new  # the driver with it
    assert not any(name.startswith(("ldap3", "asyncpg", "asyncmy", "msal")) for name in new)
    assert "services.providers.ldap.provider" not in new


def test_nothing_is_loaded_without_connections() -> None:
    script = (
        "import sys; from services.providers import load_providers; "
        "before = set(sys.modules); print(load_providers([]), len(set(sys.modules) - before))"
    )
    found = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert found.stdout.split() == ["[]", "0"]
