"""`idsync job import FOLDER` applies all of a folder or nothing: a job that does not check
(a connection that is nowhere, a collection naming a job that is nowhere, two files of one
job id) is said with its file, and neither the connections nor the other jobs of the
folder are left applied."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from core.ad_templates import BUILTIN
from core.errors import BadInput
from services.cli.client import Session
from services.cli.job_manage import job_import
from services.cli.main import build_parser
from services.common.exporting import template_text
from services.common.settings import Settings

from .conftest import CONNECTIONS, JOB_ID, job_toml


def exported(folder: Path, jobs: dict[str, str], collection: str | None = None) -> Path:
    (folder / "jobs").mkdir(parents=True)
    (folder / "connections.toml").write_text(CONNECTIONS)
    for name, text in jobs.items():
        (folder / "jobs" / name).write_text(text)
    if collection is not None:
        (folder / "collections").mkdir()
        (folder / "collections" / "nightly.toml").write_text(collection)
    return folder


async def refused(settings: Settings, folder: Path) -> str:
    args = build_parser("job").parse_args(["job", "import", str(folder)])
    args.settings = settings
    with pytest.raises(BadInput) as error:
        await job_import(args)
    return str(error.value)


async def nothing_applied(session: Session) -> None:
    assert await session.store.jobs() == []
    assert await session.store.connections() == []
    assert await session.store.collections() == []


async def test_a_job_of_a_connection_that_is_nowhere_imports_nothing(
    settings: Settings, session: Session, tmp_path: Path
) -> None:
    other = job_toml().replace(f'id = "{JOB_ID}"', 'id = "zz-other"')
    other = other.replace('connection = "db"', 'connection = "nowhere"')
    folder = exported(tmp_path / "out", {f"{JOB_ID}.toml": job_toml(), "zz-other.toml": other})
    said = await refused(settings, folder)
    assert "zz-other.toml" in said and "nowhere" in said, said
    await nothing_applied(session)


async def test_two_files_of_one_job_id_import_nothing(
    settings: Settings, session: Session, tmp_path: Path
) -> None:
    copy = job_toml().replace("HR to the database", "Another HR")
    folder = exported(tmp_path / "out", {f"{JOB_ID}.toml": job_toml(), "zz-copy.toml": copy})
    said = await refused(settings, folder)
    assert f"{JOB_ID}.toml" in said and "zz-copy.toml" in said and JOB_ID in said, said
    await nothing_applied(session)


async def test_a_collection_of_a_job_that_is_nowhere_imports_nothing(
    settings: Settings, session: Session, tmp_path: Path
) -> None:
    collection = 'id = "nightly"\n\n[[jobs]]\njob = "hr-to-db"\n\n[[jobs]]\njob = "missing-job"\n'
    folder = exported(tmp_path / "out", {f"{JOB_ID}.toml": job_toml()}, collection)
    said = await refused(settings, folder)
    assert "nightly.toml" in said and "missing-job" in said, said
    await nothing_applied(session)


async def test_a_template_under_the_id_of_a_shipped_one_imports_nothing(
    settings: Settings, session: Session, tmp_path: Path
) -> None:
    folder = exported(tmp_path / "out", {f"{JOB_ID}.toml": job_toml()})
    shipped = msgspec.structs.replace(BUILTIN[0], builtin=False)  # as a person would save it
    (folder / "templates").mkdir()
    (folder / "templates" / f"{shipped.id}.toml").write_text(template_text(shipped, "toml"))
    said = await refused(settings, folder)
    assert f"{shipped.id}.toml" in said and "ships with idsync" in said, said
    await nothing_applied(session)
    assert await session.store.templates() == []
