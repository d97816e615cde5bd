"""The house: which of our packages may import which (docs/architecture.md, "Layers").

Every .py file under the ruled packages is parsed (never imported) and each of its
imports of our own code is checked against RULES: the longest rule whose package holds
the file says which of our packages it may import. Imports of the standard library and
of third parties are not ruled here.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Our top-level packages: an import of anything else is not ours to rule.
OURS = frozenset({"schemas", "core", "services", "tests", "bench"})

# A package (dotted) -> the packages (dotted) its modules may import, besides
# themselves. A module is ruled by the longest package here that contains it; an
# allowed "x.y" admits "x.y" and everything under it.
BELOW_SERVICES = frozenset({"schemas", "core", "services.common"})
RULES: dict[str, frozenset[str]] = {
    "schemas": frozenset(),
    "core": frozenset({"schemas", "core"}),
    # Wiring and shared state: the contract, the pure core, nothing above.
    "services.common": BELOW_SERVICES,
    # One package per provider, all read through the registry.
    "services.providers": BELOW_SERVICES | {"services.providers"},
    # The services meet only through events, KV and the object store: never each other,
    # never the command line.
    "services.runner": BELOW_SERVICES | {"services.providers", "services.runner"},
    "services.workflow": BELOW_SERVICES | {"services.providers", "services.workflow"},
    "services.notifier": BELOW_SERVICES | {"services.notifier"},
    "services.scheduler": BELOW_SERVICES | {"services.scheduler"},
    "services.recorder": BELOW_SERVICES | {"services.recorder"},
    "services.scim_endpoint": BELOW_SERVICES | {"services.scim_endpoint"},
    "services.portal": BELOW_SERVICES | {"services.portal"},
    # The top floor.
    "services.cli": frozenset({"schemas", "core", "services"}),
}


def module_name(path: Path) -> str:
    """The dotted module a file under ROOT is ("core/engine/__init__.py" -> "core.engine")."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def rule_for(module: str) -> str | None:
    """The package whose rule holds `module`: the longest one containing it."""
    holders = [package for package in RULES if within(module, package)]
    return max(holders, key=len) if holders else None


def imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, absolute module) for every import in a module's tree, relative ones resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            # `from core import engine` may import core.engine: each name is ruled as such.
            for alias in node.names:
                yield node.lineno, base if alias.name == "*" else f"{base}.{alias.name}"


def violations(source: str, path: str, module: str, is_package: bool = False) -> list[str]:
    """Why each import of our code in `source` breaks the rule of the package it is in."""
    ruled_by = rule_for(module)
    if ruled_by is None:
        return []
    allowed = RULES[ruled_by] | {ruled_by}
    found = []
    for line, target in imported(ast.parse(source, filename=path), module, is_package):
        if target.split(".")[0] not in OURS:
            continue
        if not any(within(target, package) for package in allowed):
            may = ", ".join(sorted(allowed - {ruled_by})) or "nothing of ours"
            found.append(
                f"{path}:{line}: imports {target}; {ruled_by} may import {may} (besides itself)"
            )
    return found


def files_of(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(RULES))
def test_each_package_imports_only_what_its_rule_allows(package: str) -> None:
    files = files_of(package)
    assert files, f"no .py file under {package}/: the rule names a package that is not there"
    found = []
    for path in files:
        found += violations(
            path.read_text(encoding="utf-8"),
            str(path.relative_to(ROOT)),
            module_name(path),
            is_package=path.name == "__init__.py",
        )
    assert not found, "\n".join(found)


def test_a_forbidden_import_is_named_with_its_file_and_line() -> None:
    source = "import re\n\nfrom schemas.values import Record\nfrom services.common import store\n"
    assert violations(source, "core/x.py", "core.x") == [
        "core/x.py:4: imports services.common.store; core may import schemas (besides itself)"
    ]
    assert violations("from core.errors import BadInput\n", "schemas/y.py", "schemas.y") == [
        "schemas/y.py:1: imports core.errors.BadInput; schemas may import nothing of ours "
        "(besides itself)"
    ]


def test_relative_imports_are_resolved_before_they_are_ruled() -> None:
    def targets(source: str, module: str, is_package: bool = False) -> list[str]:
        return [name for _, name in imported(ast.parse(source), module, is_package)]

    assert targets("from ..errors import BadInput\n", "core.engine.plan") == [
        "core.errors.BadInput"
    ]
    assert targets("from . import plan\n", "core.engine", is_package=True) == ["core.engine.plan"]
    assert targets("from ..common import store\n", "services.runner.app") == [
        "services.common.store"
    ]
    assert violations("from .. import errors\n", "p.py", "core.engine.plan") == []


def test_every_ruled_package_is_packaged_type_checked_and_copied_into_the_image() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packaged = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    checked = pyproject["tool"]["mypy"]["packages"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in {rule.split(".")[0] for rule in RULES}:
        assert f"{package}*" in packaged, f"pyproject.toml does not package {package}"
        assert package in checked, f"mypy does not check {package}"
        assert f"COPY {package} ./{package}" in dockerfile, f"the image lacks {package}/"
