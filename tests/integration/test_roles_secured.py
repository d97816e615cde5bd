"""Roles on a server with the configuration `idsync up` writes, real NATS and the
services each as its own user: every permission allowed and refused (roles x commands),
a role's policy refusing a job when applied and when run, a policy changed under an
existing job, a principal forged, and roles held through a directory group (slapd)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import ldap3
import msgspec
import nats.errors
import pytest

from core.errors import BadInput, Refused
from schemas.collections import Collection, CollectionStep
from schemas.commands import (
    CollectionCommand,
    DeadLetterCommand,
    DecideCommand,
    JobDeleteCommand,
    RunCommand,
    encode,
)
from schemas.events import (
    RoleChanged,
    RunAwaitingApproval,
    RunFailed,
    RunFinished,
    encode_event,
    is_end,
)
from schemas.history import HistoryQuery, HistoryReply
from schemas.history import encode as encode_query
from schemas.history import reply_decoder as history_decoder
from schemas.roles import GrantCommand, RoleEntry, whoami_decoder
from schemas.subjects import ROLE_EVENTS, command_subject, event_subject
from services.common import roles as stored_roles
from services.common import users
from services.common.definitions import load_connections, load_job
from services.common.jetstream import ROLES_BUCKET
from services.common.people import write_csv
from services.common.settings import Settings
from tests.ldap_server import ADMIN_PASSWORD, Slapd

from .conftest import JOB_ID, Files
from .journal import wait_for_event
from .ldap_helpers import admin
from .secured import Running, person, raw_client
from .test_cli_secured import idsync
from .test_permissions import violation

AUTHOR_POLICY = """\
id = "hr-author"
description = "HR jobs into the database"
permissions = ["jobs.create", "jobs.edit-own", "jobs.run-own", "jobs.preview", "history.view-own"]

[policy]
sources = ["hr"]
destinations = ["db"]
attributes_deny = [{deny}]
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """alice started the server; the others get one role each (nora none)."""
    place = tmp_path / "home"
    users.prepare(place, "alice")
    for principal, groups in (
        ("dave", []),
        ("olga", []),
        ("pam", ["approvers"]),
        ("aud", []),
        ("nora", []),
    ):
        users.add_person(place, principal, groups, system=False)
    return place


async def ask(settings: Settings, who: str, verb: str, payload: bytes) -> str:
    """The workflow's answer to `who`: its note, or the refusal."""
    async with person(settings, who) as session:
        try:
            return (await session.ask(verb, payload)).note or "ok"
        except BadInput as error:
            return f"refused: {error}"


async def grant(settings: Settings, who: str, grantee: str, role: str) -> str:
    return await ask(settings, who, "grant", encode(GrantCommand(role_id=role, grantee=grantee)))


async def setup_roles(secure: Settings) -> None:
    assert "granted" in await grant(secure, "alice", "alice", "administrator")
    for who, role in (("dave", "job-author"), ("olga", "operator"), ("pam", "approver")):
        assert "granted" in await grant(secure, "alice", who, role)
    assert "granted" in await grant(secure, "alice", "aud", "auditor")


def collection(collection_id: str, owner: str) -> bytes:
    return msgspec.json.encode(
        Collection(id=collection_id, owners=[owner], jobs=[CollectionStep(job=f"new-{owner}")])
    )


def job_of(files: Files, owner: str, job_id: str = JOB_ID, extra: str = "") -> bytes:
    text = files.job.read_text().replace(f'id = "{JOB_ID}"', f'id = "{job_id}"')
    text = text.replace('title = "HR', f'owners = ["{owner}"]\n{extra}\ntitle = "HR', 1)
    return msgspec.json.encode(load_job_text(files.folder, text))


def load_job_text(folder: Path, text: str) -> object:
    path = folder / "variant.toml"
    path.write_text(text)
    return load_job(path)


async def test_each_role_may_send_exactly_its_commands(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=3, owners=["alice"])
    connections = msgspec.json.encode(load_connections(files.connections))
    approval = 'approval = { approvers = ["group:approvers"], expire_after = "1h" }'
    async with secured_services():
        # No role granted yet: everyone may do everything (as before roles).
        assert await ask(secure, "nora", "connection-apply", connections) == "2 applied"
        refused = await grant(secure, "nora", "nora", "job-author")
        assert "grant administrator to someone first" in refused
        await setup_roles(secure)
        assert (
            await ask(secure, "alice", "job-apply", job_of(files, "alice", "alices", approval))
            == "applied"
        )
        async with person(secure, "alice") as session:
            waiting = await session.ask_run("alices")
        assert waiting.waits_for == ["pam"]
        run_id = waiting.run_id or ""

        # (person, verb, payload) → allowed? "allowed" is any answer but a role's refusal.
        table: list[tuple[str, str, bytes, bool]] = []
        for who in ("alice", "dave", "olga", "pam", "aud", "nora"):
            table.append((who, "connection-apply", connections, who == "alice"))
            table.append(
                (who, "job-apply", job_of(files, who, f"new-{who}"), who in ("alice", "dave"))
            )
            table.append((who, "whoami", b"{}", True))
            table.append(
                (
                    who,
                    "deadletter",
                    encode(DeadLetterCommand(action="drop", seq=999)),
                    who in ("alice", "olga"),
                )
            )
            table.append(
                (
                    who,
                    "revoke",
                    encode(GrantCommand(role_id="auditor", grantee="nobody")),
                    who == "alice",
                )
            )
        table += [
            # dave owns new-dave: he may change, run and delete it; olga may run it only.
            ("dave", "job-apply", job_of(files, "dave", "new-dave"), True),
            ("olga", "job-apply", job_of(files, "dave", "new-dave"), False),
            ("alice", "job-apply", job_of(files, "dave", "new-dave"), True),
            ("olga", "run", encode(RunCommand(job_id="new-dave")), True),
            ("dave", "run", encode(RunCommand(job_id="new-dave")), True),
            ("pam", "run", encode(RunCommand(job_id="new-dave")), False),
            ("aud", "run", encode(RunCommand(job_id="new-dave")), False),
            ("dave", "run", encode(RunCommand(job_id="alices")), False),
            ("aud", "approve", encode(DecideCommand(run_id=run_id)), False),
            ("dave", "approve", encode(DecideCommand(run_id=run_id)), False),
            ("aud", "deny", encode(DecideCommand(run_id=run_id)), False),
            ("olga", "deny", encode(DecideCommand(run_id=run_id)), False),
            ("olga", "job-delete", encode(JobDeleteCommand(job_id="new-dave")), False),
            ("pam", "approve", encode(DecideCommand(run_id=run_id)), True),
            # alice asked for that run: only who may run any job cancels it.
            ("nora", "cancel", encode(DecideCommand(run_id=run_id)), False),
            ("dave", "cancel", encode(DecideCommand(run_id=run_id)), False),
            ("olga", "cancel", encode(DecideCommand(run_id=run_id)), True),
            # Collections as jobs: created by who creates jobs, run by their owners too.
            ("nora", "collection-apply", collection("c-dave", "dave"), False),
            ("dave", "collection-apply", collection("c-dave", "dave"), True),
            ("olga", "collection-apply", collection("c-dave", "dave"), False),
            ("aud", "collection-run", encode(CollectionCommand(collection_id="c-dave")), False),
            ("dave", "collection-run", encode(CollectionCommand(collection_id="c-dave")), True),
            ("nora", "collection-cancel", encode(DecideCommand(run_id="x")), False),
            ("olga", "collection-cancel", encode(DecideCommand(run_id="x")), True),
            ("dave", "template-apply", b"{}", True),
            ("olga", "template-apply", b"{}", False),
            ("alice", "role-apply", b"{}", True),
            ("dave", "role-apply", b"{}", False),
            ("olga", "role-remove", b"{}", False),
            ("aud", "refusals", b"{}", True),
            ("dave", "job-delete", encode(JobDeleteCommand(job_id="new-dave")), True),
        ]
        wrong: list[str] = []
        for who, verb, payload, allowed in table:
            answer = await ask(secure, who, verb, payload)
            refused_by_role = answer.startswith("refused:") and " may not " in answer
            if refused_by_role == allowed:
                wrong.append(f"{who} {verb}: {answer}")
        # A job author must own what they write.
        unowned = await ask(secure, "dave", "job-apply", job_of(files, "alice", "not-mine"))
    assert wrong == []
    assert "list yourself among the owners (dave)" in unowned


async def test_a_role_policy_refuses_a_job_when_applied_when_run_and_once_changed(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=4, owners=["alice"])
    role_file = files.folder / "hr-author.toml"
    nightly = files.folder / "nightly.toml"
    nightly.write_text(f'id = "nightly"\nowners = ["alice"]\n\n[[jobs]]\njob = "{JOB_ID}"\n')
    async with secured_services():
        assert (
            await idsync(secure, "alice", "connection", "apply", str(files.connections))
        ).returncode == 0
        await setup_roles(secure)
        role_file.write_text(AUTHOR_POLICY.format(deny='"mail"'))
        added = await idsync(secure, "alice", "role", "add", str(role_file))
        assert added.returncode == 0 and "role hr-author applied" in added.stdout, added.stderr
        assert "granted" in await grant(secure, "alice", "dave", "hr-author")
        revoked = await ask(
            secure, "alice", "revoke", encode(GrantCommand(role_id="job-author", grantee="dave"))
        )
        assert revoked == "role job-author revoked from dave"

        refused = await ask(secure, "dave", "job-apply", job_of(files, "dave"))
        assert f"job {JOB_ID} may not be applied: it breaks a role's policy" in refused
        assert (
            "$.objects[0].fields[3].to: may not map destination field 'mail' (denied) "
            "(policy of role hr-author, held by dave)" in refused
        )

        role_file.write_text(AUTHOR_POLICY.format(deny=""))
        assert (await idsync(secure, "alice", "role", "add", str(role_file))).returncode == 0
        assert await ask(secure, "dave", "job-apply", job_of(files, "dave")) == "applied"
        async with person(secure, "dave") as session:
            run_id = await session.request_run(JOB_ID)
            end = await wait_for_event(session, lambda e: e.run_id == run_id and is_end(e))
        assert isinstance(end, RunFinished)
        assert (await idsync(secure, "alice", "collection", "apply", str(nightly))).returncode == 0

        # The policy tightened: the existing job no longer keeps to it.
        role_file.write_text(AUTHOR_POLICY.format(deny='"mail", "surname"'))
        assert (await idsync(secure, "alice", "role", "add", str(role_file))).returncode == 0
        run = await idsync(secure, "dave", "job", "run", JOB_ID)
        assert run.returncode == 2
        assert f"job {JOB_ID} may not be run: it breaks a role's policy" in run.stderr
        assert "may not map destination field 'surname' (denied)" in run.stderr
        # Whoever asks — an administrator, a collection — the run is refused, with the rule.
        by_admin = await ask(secure, "alice", "run", encode(RunCommand(job_id=JOB_ID)))
        assert "may not be run" in by_admin
        started = await idsync(secure, "alice", "collection", "run", "nightly")
        assert started.returncode == 0, started.stderr
        async with person(secure, "alice") as session:
            failed = await wait_for_event(
                session,
                lambda e: isinstance(e, RunFailed) and e.job_id == JOB_ID and e.run_id != run_id,
            )
        assert isinstance(failed, RunFailed) and "field 'mail' (denied)" in failed.reason

        shown = await idsync(secure, "aud", "role", "show", "hr-author")
        roles = await idsync(secure, "aud", "role", "list")
        listed = await idsync(secure, "olga", "job", "list", "--refused")
        as_json = await idsync(secure, "olga", "job", "list", "--refused", "--json")
        history = await role_history(secure, "aud", "hr-author", changes=4)
        not_his = await idsync(secure, "dave", "role", "history")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[:3] == [
        "role hr-author: HR jobs into the database",
        "  permissions: jobs.create, jobs.edit-own, jobs.run-own, jobs.preview, history.view-own",
        "  granted to: dave",
    ]
    assert "    attributes_deny: ['mail', 'surname']" in shown.stdout
    assert "  changed by alice at " in shown.stdout
    by_role = {line.split()[0]: line for line in roles.stdout.splitlines()[1:]}
    assert by_role["hr-author"].split()[1:4] == ["custom", "dave", "yes"]
    assert by_role["administrator"].split()[1:3] == ["built-in", "alice"]
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith(f"{JOB_ID}: refused\n")
    (only,) = json.loads(as_json.stdout)
    assert only["id"] == JOB_ID and len(only["refused"]) == 2
    assert not_his.returncode == 2
    assert "dave may not see the runs and history of a job they do not own" in not_his.stderr
    assert [(e["change"], e["by"], e["grantee"]) for e in history] == [
        ("defined", "alice", ""),
        ("granted", "alice", "dave"),
        ("defined", "alice", ""),
        ("defined", "alice", ""),
    ]


async def test_a_principal_forged_in_a_command_is_refused_by_the_server(
    secure: Settings, secured_services: Running
) -> None:
    async with secured_services():
        await setup_roles(secure)
        nc, errors = await raw_client(secure, "dave")
        try:
            with pytest.raises((nats.errors.NoRespondersError, nats.errors.TimeoutError)):
                await nc.request(
                    command_subject("alice", "grant"),
                    encode(GrantCommand(role_id="administrator", grantee="dave")),
                    timeout=2,
                )
            await violation(errors, command_subject("alice", "grant"))
        finally:
            await nc.close()
        async with person(secure, "dave") as session:
            entries = await stored_roles.entries(session.js)
            mine = whoami_decoder.decode((await session.ask("whoami", b"{}")).note)
    assert entries["administrator"].grantees == ["alice"]
    assert [r.role for r in mine.roles] == ["job-author"]


async def test_connection_secrets_stay_references(
    tmp_path: Path, secure: Settings, secured_services: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDSYNC_TEST_BIND_PW", "very-secret-value")
    path = tmp_path / "dir.toml"
    path.write_text(
        '[dir]\nprovider = "ldap"\nurls = ["ldap://127.0.0.1:1"]\n'
        'bind_dn = "cn=admin,dc=example,dc=org"\npassword = { env = "IDSYNC_TEST_BIND_PW" }\n'
    )
    async with secured_services():
        applied = await idsync(secure, "alice", "connection", "apply", str(path))
        assert applied.returncode == 0, applied.stderr
        shown = await idsync(secure, "nora", "connection", "list", "--json")
        nc, _ = await raw_client(secure, "nora")
        try:
            # What a person can read of it: the stored message itself.
            js = nc.jetstream()
            stored = await js.get_last_msg("KV_idsync_connections", "$KV.idsync_connections.dir")
        finally:
            await nc.close()
    assert shown.returncode == 0, shown.stderr
    (listed,) = json.loads(shown.stdout)
    assert listed["password"]["env"] == "IDSYNC_TEST_BIND_PW"
    assert stored.data is not None and b"IDSYNC_TEST_BIND_PW" in stored.data
    assert b"very-secret-value" not in stored.data and "very-secret-value" not in shown.stdout


async def test_roles_held_through_a_directory_group(
    slapd: Slapd, ldap_base: str, tmp_path: Path, secure: Settings, secured_services: Running
) -> None:
    group = f"cn=idsync-operators,{ldap_base}"
    slapd.ldapadd(
        f"dn: {group}\nobjectClass: groupOfNames\ncn: idsync-operators\n"
        f"member: uid=nora,{ldap_base}\nmember: uid=someone-else,{ldap_base}\n"
    )
    secret = tmp_path / "ldap-password"
    secret.write_text(ADMIN_PASSWORD + "\n")
    path = tmp_path / "dir.toml"
    path.write_text(
        f'[dir]\nprovider = "ldap"\nurls = ["{slapd.url}"]\n'
        f'bind_dn = "cn=admin,dc=example,dc=org"\npassword = {{ file = "{secret}" }}\n'
    )
    async with secured_services():
        await setup_roles(secure)
        assert (await idsync(secure, "alice", "connection", "apply", str(path))).returncode == 0
        unknown = await grant(secure, "alice", "directory:nowhere:cn=x", "operator")
        assert "no directory connection 'nowhere'" in unknown
        assert "no user 'zed'" in await grant(secure, "alice", "zed", "operator")
        assert "no group 'nobodies'" in await grant(secure, "alice", "group:nobodies", "operator")
        assert "granted" in await grant(secure, "alice", f"directory:dir:{group}", "operator")
        nora = await idsync(secure, "nora", "whoami", "--json")
        dave = await idsync(secure, "dave", "whoami", "--json")
        text = await idsync(secure, "nora", "whoami")
        ran = await ask(
            secure, "nora", "deadletter", encode(DeadLetterCommand(action="drop", seq=9))
        )
        # A group of the server's users, too.
        assert "granted" in await grant(secure, "alice", "group:approvers", "auditor")
        pam = whoami_decoder.decode(await ask_whoami(secure, "pam"))
        # Out of the directory group: out of the role (read afresh after any grant).
        with admin(slapd) as conn:
            removed = {"member": [(ldap3.MODIFY_DELETE, [f"uid=nora,{ldap_base}"])]}
            assert conn.modify(group, removed), conn.result
        assert "granted" in await grant(secure, "alice", "olga", "auditor")
        gone = await ask(
            secure, "nora", "deadletter", encode(DeadLetterCommand(action="drop", seq=9))
        )
        # A directory that does not answer gives its groups nobody.
        silent = tmp_path / "silent.toml"
        unanswered = path.read_text().replace(slapd.url, "ldap://127.0.0.1:9")
        silent.write_text(unanswered.replace("[dir]", "[gone]"))
        assert (await idsync(secure, "alice", "connection", "apply", str(silent))).returncode == 0
        assert "granted" in await grant(secure, "alice", "directory:gone:cn=anyone", "operator")
        nobody = whoami_decoder.decode(await ask_whoami(secure, "nora"))
    assert nora.returncode == 0, nora.stderr
    held = json.loads(nora.stdout)
    assert held["roles"] == [{"role": "operator", "via": f"directory:dir:{group}"}]
    assert "jobs.run-any" in held["permissions"]
    assert [r["role"] for r in json.loads(dave.stdout)["roles"]] == ["job-author"]
    assert f"role operator (directory:dir:{group})" in text.stdout
    assert " may not " not in ran
    assert [(r.role, r.via) for r in pam.roles] == [
        ("approver", "direct"),
        ("auditor", "group:approvers"),
    ]
    assert "nora may not retry or drop dead letters" in gone
    assert nobody.roles == []


async def test_whoami_and_role_list_on_a_server_without_roles(
    secure: Settings, secured_services: Running
) -> None:
    async with secured_services():
        me = await idsync(secure, "nora", "whoami")
        listed = await idsync(secure, "nora", "role", "list", "--json")
        history = await idsync(secure, "nora", "role", "history")
    assert "no role is granted yet: everyone may do everything" in me.stdout
    roles = {r["id"]: r for r in json.loads(listed.stdout)}
    assert set(roles) == {"administrator", "approver", "auditor", "job-author", "operator"}
    assert all(r["builtin"] and r["granted_to"] == [] for r in roles.values())
    assert history.stdout.strip() == "no role has been changed"


async def role_history(
    settings: Settings, who: str, role: str, changes: int
) -> list[dict[str, str]]:
    """`idsync role history ROLE --json`, once the recorder has kept `changes` of them."""
    deadline = time.monotonic() + 60
    while True:
        shown = await idsync(settings, who, "role", "history", role, "--json")
        assert shown.returncode == 0, shown.stderr
        found: list[dict[str, str]] = json.loads(shown.stdout)
        if len(found) >= changes:
            return found
        assert time.monotonic() < deadline, f"the recorder kept {found}"
        await asyncio.sleep(0.1)


async def ask_whoami(settings: Settings, who: str) -> bytes:
    async with person(settings, who) as session:
        return (await session.ask("whoami", b"{}")).note.encode()


async def history_answer(settings: Settings, who: str, query: HistoryQuery) -> HistoryReply:
    async with person(settings, who) as session:
        answer = await session.nc.request(
            command_subject(who, "history"), encode_query(query), timeout=10
        )
    return history_decoder.decode(answer.data)


async def test_history_is_read_by_who_may_see_it_and_previews_asked_for(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=3, owners=["alice"])
    async with secured_services():
        await setup_roles(secure)
        assert (
            await ask(
                secure,
                "alice",
                "connection-apply",
                msgspec.json.encode(load_connections(files.connections)),
            )
            == "2 applied"
        )
        assert await ask(secure, "dave", "job-apply", job_of(files, "dave")) == "applied"
        async with person(secure, "dave") as session:
            run_id = await session.request_run(JOB_ID)
            await wait_for_event(session, lambda e: e.run_id == run_id and is_end(e))
        one_run = HistoryQuery(what="run", run_id=run_id)
        deadline = time.monotonic() + 60
        # The recorder follows the journal: it has the run shortly.
        while not (await history_answer(secure, "alice", one_run)).ok:
            assert time.monotonic() < deadline, f"the recorder has not run {run_id}"
            await asyncio.sleep(0.1)
        answers = {
            who: await history_answer(secure, who, one_run)
            for who in ("alice", "dave", "olga", "pam", "aud", "nora")
        }
        anywhere = await history_answer(secure, "dave", HistoryQuery(what="object", key="E000001"))
        in_his_job = await history_answer(
            secure, "dave", HistoryQuery(what="object", key="E000001", job_id=JOB_ID)
        )
        previews = {
            who: await idsync(secure, who, "job", "preview", JOB_ID) for who in ("dave", "aud")
        }
    assert {who: a.ok for who, a in answers.items()} == {
        "alice": True,
        "dave": True,  # his own job
        "olga": True,
        "pam": True,
        "aud": True,
        "nora": False,
    }
    assert "nora may not see this job's runs and history" in answers["nora"].error
    assert not anywhere.ok and "name one of them (--job JOB)" in anywhere.error
    assert in_his_job.ok and in_his_job.changes
    assert previews["dave"].returncode == 0, previews["dave"].stderr
    assert previews["aud"].returncode == 2
    assert (
        "aud may not preview jobs: it needs the permission jobs.preview" in previews["aud"].stderr
    )


async def test_people_cannot_write_roles_or_their_history_themselves(
    secure: Settings, secured_services: Running
) -> None:
    """Only the workflow writes the roles bucket and publishes role.changed: the server
    refuses anyone else (as it refuses anyone's run.approved)."""
    forged_event = RoleChanged(run_id="", job_id="administrator", change="granted", by="alice")
    subject = event_subject(forged_event)
    async with (
        secured_services(refused=(subject,)),
        person(secure, "alice") as alice,
    ):
        await setup_roles(secure)
        async with person(secure, "nora") as nora:
            forged = RoleEntry(grantees=["nora"])
            with pytest.raises(Refused, match=f'publish to "\\$kv.{ROLES_BUCKET}.administrator"'):
                try:
                    await stored_roles.put(nora.js, "administrator", forged)
                except nats.errors.TimeoutError:
                    nora.raise_refusal()
        for who in ("nora", "runner"):
            nc, errors = await raw_client(secure, who)
            try:
                with pytest.raises(nats.errors.TimeoutError):  # refused: no acknowledgement
                    await nc.jetstream(timeout=1).publish(subject, encode_event(forged_event))
                await violation(errors, subject)
            finally:
                await nc.close()
        entries = await stored_roles.entries(alice.js)
        kept = await alice.journal(ROLE_EVENTS)
    assert entries["administrator"].grantees == ["alice"]
    assert [(e.job_id, e.by) for e in kept if isinstance(e, RoleChanged)] == [
        ("administrator", "alice"),
        ("job-author", "alice"),
        ("operator", "alice"),
        ("approver", "alice"),
        ("auditor", "alice"),
    ]


async def test_a_plan_over_the_safety_limits_needs_someone_who_may_approve(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    """Before roles, anyone — the requester too — confirmed such a plan of a job without
    approvers; with roles, a job author's own confirmation would void the ceiling on his
    safety limits."""
    rows = files.write(count=8, owners=["alice"])
    async with secured_services():
        await setup_roles(secure)
        connections = msgspec.json.encode(load_connections(files.connections))
        assert await ask(secure, "alice", "connection-apply", connections) == "2 applied"
        assert await ask(secure, "dave", "job-apply", job_of(files, "dave")) == "applied"
        async with person(secure, "dave") as dave:
            first = await dave.request_run(JOB_ID)
            await wait_for_event(dave, lambda e: e.run_id == first and is_end(e))
            write_csv(files.csv, rows[:2])  # six of eight gone: over the safety limits
            second = await dave.request_run(JOB_ID)
            await wait_for_event(
                dave, lambda e: e.run_id == second and isinstance(e, RunAwaitingApproval)
            )
        own = await ask(secure, "dave", "approve", encode(DecideCommand(run_id=second)))
        approved = await ask(secure, "alice", "approve", encode(DecideCommand(run_id=second)))
        async with person(secure, "dave") as dave:
            end = await wait_for_event(dave, lambda e: e.run_id == second and is_end(e))
    assert "dave may not approve or deny runs: it needs the permission runs.approve" in own
    assert approved.startswith("approved: its plan "), approved  # alice is told what she approved
    assert isinstance(end, RunFinished) and end.stats.deleted == 6


async def test_roles_removed_and_builtin_roles_restored(
    tmp_path: Path, secure: Settings, secured_services: Running
) -> None:
    viewer = tmp_path / "viewer.toml"
    viewer.write_text('id = "viewer"\npermissions = ["jobs.preview"]\n')
    narrowed = tmp_path / "auditor.toml"
    narrowed.write_text('id = "auditor"\npermissions = ["history.view-own"]\n')
    boss = tmp_path / "administrator.toml"
    boss.write_text('id = "administrator"\npermissions = ["jobs.preview"]\n')
    async with secured_services():
        await setup_roles(secure)
        for path in (viewer, narrowed):
            added = await idsync(secure, "alice", "role", "add", str(path))
            assert added.returncode == 0, added.stderr
        assert "granted" in await grant(secure, "alice", "nora", "viewer")
        before = json.loads((await idsync(secure, "nora", "whoami", "--json")).stdout)
        audits = json.loads((await idsync(secure, "aud", "whoami", "--json")).stdout)
        removed = await idsync(secure, "alice", "role", "remove", "viewer")
        restored = await idsync(secure, "alice", "role", "remove", "auditor")
        kept = await idsync(secure, "alice", "role", "remove", "administrator")
        narrowing = await idsync(secure, "alice", "role", "add", str(boss))
        by_dave = await idsync(secure, "dave", "role", "add", str(viewer))
        after = json.loads((await idsync(secure, "nora", "whoami", "--json")).stdout)
        audits_after = json.loads((await idsync(secure, "aud", "whoami", "--json")).stdout)
    assert before["permissions"] == ["jobs.preview"]
    assert audits["permissions"] == ["history.view-own"]
    assert removed.stdout.strip() == "role viewer: removed (it was granted to 1)"
    assert restored.stdout.strip() == "role auditor: restored as it ships; its grants stay"
    assert kept.returncode == 2 and "role administrator ships with idsync: it stays" in kept.stderr
    assert narrowing.returncode == 2 and "may not be narrowed" in narrowing.stderr
    assert by_dave.returncode == 2 and "dave may not manage users and roles" in by_dave.stderr
    assert after["roles"] == [] and after["permissions"] == []
    assert audits_after["permissions"] == ["history.view-all"]
