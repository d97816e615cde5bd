"""Who must approve, who may decide, and how bursts of requests merge (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from core.checks.approval import approval_problems
from schemas.commands import keys_size
from schemas.jobs import Approval, Endpoint, Job, ObjectMapping
from services.common import access
from services.common.users import Person, Users, render
from services.workflow.bursts import Bursts
from services.workflow.gate import approvers, needs_approval, refusal

PEOPLE = Users(
    people={
        "ada": Person(hash="x", groups=["directory"]),
        "bob": Person(hash="x", groups=["directory"]),
        "crm": Person(hash="x", system=True),
    }
)


def job(approval: Approval | None = None, owners: list[str] | None = None) -> Job:
    return Job(
        id="hr",
        source=Endpoint(connection="a"),
        destination=Endpoint(connection="b"),
        objects=[ObjectMapping(keys=["id"])],
        approval=approval,
        owners=owners or [],
    )


GUARDED = job(Approval(approvers=["group:directory", "Carol"]), owners=["ada"])


def test_approvers_resolve_groups_once_each() -> None:
    assert approvers(GUARDED, PEOPLE) == ["ada", "bob", "Carol"]
    assert approvers(job(), PEOPLE) == []


@pytest.mark.parametrize(
    ("trigger", "waits"), [("manual", True), ("schedule", False), ("external", False)]
)
def test_manual_requests_wait_by_default(trigger: str, waits: bool) -> None:
    assert needs_approval(GUARDED, trigger) is waits
    assert not needs_approval(job(), trigger)


@pytest.mark.parametrize(
    ("verb", "who", "requester", "refused"),
    [
        ("approve", "bob", "ada", None),
        ("approve", "carol", "ada", None),  # "Carol" in the job: compared casefolded
        ("approve", "Ada", "ada", "asked for this run and cannot approve it"),
        ("approve", "ada", "ADA", "asked for this run and cannot approve it"),
        ("approve", "dave", "ada", "dave is not an approver of job hr"),
        ("deny", "ada", "ada", None),  # a requester may withdraw their own request
        ("deny", "dave", "ada", "dave is not an approver"),
    ],
)
def test_who_may_decide(verb: str, who: str, requester: str, refused: str | None) -> None:
    answer = refusal(verb, who, requester, GUARDED, PEOPLE)
    assert (answer is None) if refused is None else (refused in (answer or ""))


def test_without_an_approval_section_anyone_confirms_a_plan_over_the_limits() -> None:
    assert refusal("approve", "ada", "ada", job(), PEOPLE) is None


def test_a_job_needing_approval_names_owners_and_a_valid_expiry() -> None:
    problems = approval_problems(job(Approval(approvers=[], expire_after="soon")))
    assert any(p.startswith("$.approval.approvers") for p in problems)
    assert any(p.startswith("$.owners") for p in problems)
    assert any(p.startswith("$.approval.expire_after") for p in problems)
    assert approval_problems(GUARDED) == []


def test_a_burst_is_one_run_with_the_keys_merged() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    bursts = Bursts(window=2.0)
    ids = {bursts.add("hr", "crm", [f"E{n}"], start + timedelta(seconds=n / 10)) for n in range(10)}
    assert len(ids) == 1 and bursts.due(start + timedelta(seconds=1)) == []
    (burst,) = bursts.due(start + timedelta(seconds=2))
    assert burst.keys == [f"E{n}" for n in range(10)] and burst.requests == 10
    bursts.sent(burst)
    assert bursts.due(start + timedelta(seconds=9)) == []


def test_a_request_without_keys_makes_the_burst_a_whole_run() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    bursts = Bursts(window=2.0)
    first = bursts.add("hr", "crm", ["E1"], start)
    assert bursts.add("hr", "erp", None, start + timedelta(seconds=1)) == first
    assert bursts.add("hr", "crm", ["E2"], start + timedelta(seconds=1.5)) == first
    later = bursts.add("hr", "crm", ["E3"], start + timedelta(seconds=3))
    assert later != first
    due = bursts.due(start + timedelta(seconds=5))
    assert [(b.run_id, b.keys, b.others) for b in due] == [
        (first, None, ["erp"]),
        (later, ["E3"], []),
    ]


def test_a_burst_takes_keys_only_as_long_as_they_fit_in_one_request() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    bursts = Bursts(window=2.0)
    room = keys_size([f"E{n:04d}" for n in range(10)])
    first = bursts.add("hr", "crm", [f"E{n:04d}" for n in range(6)], start, room=room)
    again = bursts.add("hr", "crm", ["E0000", "E0001"], start, room=room)  # known: no more
    full = bursts.add(
        "hr", "crm", [f"E{n:04d}" for n in range(6, 11)], start + timedelta(seconds=0.1), room=room
    )
    more = bursts.add("hr", "crm", ["E0011"], start + timedelta(seconds=0.5), room=room)
    assert again == first and full != first and more == full
    due = bursts.due(start + timedelta(seconds=3))
    assert [(b.run_id, b.keys) for b in due] == [
        (first, [f"E{n:04d}" for n in range(6)]),
        (full, [f"E{n:04d}" for n in range(6, 12)]),
    ]
    assert all(keys_size(b.keys) <= room for b in due)


def test_people_may_send_only_their_own_commands_and_create_no_consumer() -> None:
    ada = access.person("ada")
    assert [s for s in ada.publish if s.startswith("idsync.")] == ["idsync.cmd.ada.>"]
    assert not any(s.startswith(("$KV.", "$O.", "$JS.API.CONSUMER.CREATE")) for s in ada.publish)
    assert not any(".STREAM.CREATE" in s or ".STREAM.DELETE" in s for s in ada.publish)
    assert ada.subscribe[0] == "_INBOX_ada.>" and "idsync.>" not in ada.subscribe


@pytest.mark.parametrize("service", ["scheduler", "runner", "notifier"])
def test_only_the_workflow_publishes_decisions(service: str) -> None:
    published = access.service(service).publish
    for tag in ("approved", "denied", "expired"):
        assert f"idsync.run.{tag}.*" not in published
        assert "idsync.run.>" not in published and "$JS.API.>" not in published
    assert "idsync.run.>" in access.service("workflow").publish


def test_the_server_configuration_holds_hashes_and_permissions() -> None:
    text = render(Users(services={"runner": "$2b$10$hash"}, people=PEOPLE.people))
    assert text.startswith("# Written by idsync")
    block = msgspec.json.decode(text.split("authorization ", 1)[1])
    users = {entry["user"]: entry for entry in block["users"]}
    assert set(users) == {"idsync-runner", "ada", "bob", "crm"}
    assert users["idsync-runner"]["password"] == "$2b$10$hash"
    assert users["idsync-runner"]["permissions"]["allow_responses"] is True
    assert users["ada"]["permissions"]["publish"]["allow"][0] == "idsync.cmd.ada.>"
