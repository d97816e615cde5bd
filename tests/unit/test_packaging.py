"""What `make demo` and `make test` install, and package metadata a current setuptools
builds without a deprecation warning."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")


def planned(target: str, venv: Path) -> str:
    """The commands `make TARGET` would run for a fresh virtualenv (make -n runs none)."""
    assert MAKE is not None
    return subprocess.run(
        # --no-print-directory: run under `make test`, make would name the folder it enters
        [MAKE, "-n", "--no-print-directory", target, f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.skipif(MAKE is None, reason="make is not installed (apt install make)")
def test_make_demo_installs_idsync_alone_and_make_test_the_dev_tools(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    demo = planned("demo", venv)
    assert "pip install --quiet -e .\n" in demo and "[dev]" not in demo
    assert demo.rstrip().endswith(f"{venv}/bin/idsync demo")
    for target in ("test", "lint", "format"):
        assert 'pip install --quiet -e ".[dev]"' in planned(target, venv)


def test_the_license_is_an_spdx_expression() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in pyproject["build-system"]["requires"]  # the first to read it


def test_setuptools_builds_the_metadata_without_a_deprecation_warning(tmp_path: Path) -> None:
    setuptools = pytest.importorskip("setuptools")
    version = tuple(int(part) for part in setuptools.__version__.split(".")[:2])
    if version < (77, 0):
        pytest.skip(f"setuptools {setuptools.__version__} here; the build installs >= 77")
    import setuptools.build_meta as build  # type: ignore[import-untyped]

    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("error")
        patch.chdir(ROOT)
        build.prepare_metadata_for_build_wheel(str(tmp_path))
