"""Managing jobs on a server with users: each change is a command the workflow carries
out under the job's ownership, forgetting a job's history too."""

from __future__ import annotations

import json
from pathlib import Path

from services.common.settings import Settings

from .conftest import JOB_ID, Files
from .secured import Running
from .test_cli_secured import idsync


async def test_owners_manage_their_job_through_the_workflow(
    files: Files, secure: Settings, secured_services: Running, tmp_path: Path
) -> None:
    files.write(count=3, extra='owners = ["alice"]', owners=["alice"])
    async with secured_services():
        for what in ("connection", "job"):
            path = files.connections if what == "connection" else files.job
            assert (await idsync(secure, "alice", what, "apply", str(path))).returncode == 0
        ran = await idsync(secure, "alice", "job", "run", JOB_ID, "--wait")
        assert ran.returncode == 0, ran.stderr

        renamed = await idsync(secure, "dave", "job", "rename", JOB_ID, "Mine now")
        assert renamed.returncode == 2 and "owned by alice" in renamed.stderr
        assert (await idsync(secure, "alice", "job", "rename", JOB_ID, "Nightly")).returncode == 0
        copied = await idsync(secure, "alice", "job", "duplicate", JOB_ID, "copy")
        assert copied.returncode == 0, copied.stderr

        exported = await idsync(secure, "bob", "job", "export", "--to", str(tmp_path / "out"))
        assert exported.returncode == 0, exported.stderr
        forgot = await idsync(secure, "dave", "job", "delete", JOB_ID, "--forget-history")
        assert forgot.returncode == 2 and "only they may delete it" in forgot.stderr
        forgot = await idsync(secure, "alice", "job", "delete", JOB_ID, "--forget-history")
        assert forgot.returncode == 0, forgot.stderr
        assert "history of 1 runs" in forgot.stdout
        runs = await idsync(secure, "bob", "run", "list", "--job", JOB_ID, "--json")
        assert json.loads(runs.stdout) == []
        back = await idsync(secure, "alice", "job", "import", str(tmp_path / "out"))
        assert back.returncode == 0, back.stderr
        shown = await idsync(secure, "bob", "job", "show", JOB_ID, "--json")
        assert json.loads(shown.stdout)["title"] == "Nightly"
