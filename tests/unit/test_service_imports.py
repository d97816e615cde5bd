"""The services never import one another nor the command line: each talks to the others
over NATS only, and what they share is in services/common (or the pure core). A breach
names the file, the line and the import."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("runner", "workflow", "notifier", "scheduler")
ENGINE = "core.engine"
"""The pure engine: on its way to core/engine, importable by every service meanwhile."""
CHECKS = {"definitions.py", "incremental_checks.py", "scope_checks.py", "object_checks.py"}
"""services/common's job checks: on their way to core/checks, with provider facts
passed in; until then they ask the runner's providers and the notifier's addresses."""


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def forbidden(package: str, module: str) -> bool:
    if not module.startswith("services.") or module.startswith(ENGINE):
        return False
    owner = module.split(".")[1]
    if package == "common":
        return owner != "common"
    return owner not in (package, "common")


def test_no_service_imports_another_nor_the_command_line() -> None:
    breaches = []
    for package in (*SERVICES, "common"):
        for path in sorted((ROOT / "services" / package).rglob("*.py")):
            if package == "common" and path.name in CHECKS:
                continue
            breaches += [
                f"{path.relative_to(ROOT)}:{line}: {module}"
                for line, module in imports(path)
                if forbidden(package, module)
            ]
    assert breaches == [], "\n".join(breaches)
