"""`idsync job import PATH` with a path that is not there says so as a folder or a file,
before any server is asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import BadInput
from services.cli.job_manage import job_import
from services.cli.main import build_parser


async def test_a_missing_folder_is_said_to_be_missing(tmp_path: Path) -> None:
    args = build_parser("job").parse_args(["job", "import", str(tmp_path / "backup")])
    with pytest.raises(BadInput) as refused:
        await job_import(args)
    assert str(refused.value) == (
        f"{tmp_path / 'backup'}: no such folder or file; give the folder "
        "`idsync job export --to` wrote, or one job file"
    )
