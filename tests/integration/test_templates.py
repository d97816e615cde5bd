"""Templates with the command: a job saved as a template and a job made from it with
another source and destination; a collection's template; the shipped ones listed and
shown, and protected; a saved one deleted — on a server without users, then with."""

from __future__ import annotations

import json

from services.cli.client import Session
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices, apply_files
from .secured import Running
from .test_cli import idsync
from .test_cli_secured import idsync as idsync_as


async def ok(settings: Settings, *args: str) -> str:
    done = await idsync(settings, *args)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


async def test_save_a_job_as_a_template_and_make_another_job_from_it(
    settings: Settings, files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=5, schedule="1h")
    await apply_files(session, files)
    said = await ok(settings, "template", "save", JOB_ID, "people-copy", "--title", "People")
    assert "saved template people-copy" in said
    listed = await ok(settings, "template", "list")
    for shipped in (
        "ad-move-objects",
        "ad-move-and-disable-objects",
        "ad-sync-gal",
        "ad-linked-mailbox",
    ):
        assert shipped in listed
    assert "people-copy" in listed and "saved" in listed
    shown = json.loads(await ok(settings, "template", "show", "people-copy", "--json"))
    assert shown["job"]["source"]["connection"] == "" and shown["builtin"] is False
    gal = await ok(settings, "template", "show", "ad-sync-gal")
    assert 'title = "Sync GAL in AD"' in gal and 'type = "contact"' in gal

    await ok(
        settings, "template", "use", "people-copy", "copy-to-db",
        "--source", "hr", "--source-set", "file=people.csv",
        "--destination", "db", "--destination-set", "table=copies",
    )  # fmt: skip
    made = json.loads(await ok(settings, "job", "show", "copy-to-db", "--json"))
    original = json.loads(await ok(settings, "job", "show", JOB_ID, "--json"))
    assert made["destination"] == {**original["destination"], "table": "copies"}
    assert made["objects"] == original["objects"] and made["schedule"] == original["schedule"]
    async with services("workflow", "runner"):
        ran = await idsync(settings, "job", "run", "copy-to-db", "--wait")
    assert ran.returncode == 0, ran.stderr

    missing = await idsync(settings, "template", "use", "ad-move-objects", "x",
                           "--source", "hr", "--destination", "db")  # fmt: skip
    assert missing.returncode == 2 and "needs --set container=…, --set move_to=…" in missing.stderr
    kept = await idsync(settings, "template", "delete", "ad-sync-gal")
    assert kept.returncode == 2 and "ships with idsync" in kept.stderr
    await ok(settings, "template", "delete", "people-copy")
    assert "people-copy" not in await ok(settings, "template", "list")


async def test_a_collection_template_and_templates_under_users(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=3, extra='owners = ["alice"]', owners=["alice"])
    nightly = files.folder / "nightly.toml"
    nightly.write_text(f'id = "nightly"\n\n[[jobs]]\njob = "{JOB_ID}"\n')
    async with secured_services():
        for args in (
            ("connection", "apply", str(files.connections)),
            ("job", "apply", str(files.job)),
            ("collection", "apply", str(nightly)),
            ("template", "save", JOB_ID, "mine"),
            ("template", "save", "nightly", "night", "--collection"),
            ("template", "use", "night", "weekly"),
        ):
            done = await idsync_as(secure, "alice", *args)
            assert done.returncode == 0, (args, done.stderr)
        weekly = json.loads(
            (await idsync_as(secure, "bob", "collection", "show", "weekly", "--json")).stdout
        )
        assert [s["job"] for s in weekly["collection"]["jobs"]] == [JOB_ID]
        taken = await idsync_as(secure, "dave", "template", "delete", "mine")
        assert taken.returncode == 2 and "owned by alice" in taken.stderr
        shipped = await idsync_as(secure, "alice", "template", "delete", "ad-linked-mailbox")
        assert shipped.returncode == 2 and "ships with idsync" in shipped.stderr
        gone = await idsync_as(secure, "alice", "template", "delete", "mine")
        assert gone.returncode == 0, gone.stderr
