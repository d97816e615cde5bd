"""A run asked for by one of its job's approvers waits for the others: what it says
names only those who may approve it, and says so when nobody else may."""

from __future__ import annotations

from schemas.jobs import Approval, Endpoint, Job, ObjectMapping
from services.cli.ends import waits_text
from services.common.users import Person, Users
from services.workflow.gate import approvers_of, refusal

PEOPLE = Users(people={"ada": Person(hash="x"), "bob": Person(hash="x")})


def job(*names: str) -> Job:
    return Job(
        id="hr",
        source=Endpoint(connection="a"),
        destination=Endpoint(connection="b"),
        objects=[ObjectMapping(keys=["id"])],
        approval=Approval(approvers=list(names)),
        owners=["ada"],
    )


def test_the_requester_is_not_among_those_the_run_waits_for() -> None:
    assert approvers_of(job("ada", "bob"), PEOPLE, "ADA") == ["bob"]
    assert approvers_of(job("ada"), PEOPLE, "ada") == []


def test_approving_ones_own_run_names_the_other_approvers() -> None:
    said = refusal("approve", "ada", "ada", job("ada", "bob"), PEOPLE)
    assert said == (
        "ada asked for this run and cannot approve it: one of the job's other approvers (bob) must"
    )


def test_approving_ones_own_run_when_nobody_else_may_says_what_to_do() -> None:
    said = refusal("approve", "ada", "ada", job("ada"), PEOPLE)
    assert said == (
        "ada asked for this run and cannot approve it, and job hr has no other approver: "
        "add one to its approval.approvers (the run waits until it expires), or withdraw "
        "it with `idsync run deny`"
    )


def test_the_command_says_when_nobody_else_may_approve() -> None:
    said = waits_text("r1", "hr", [])
    assert said == (
        "run r1 waits for approval: job hr needs the approval of an approver other than "
        "you, and it lists none that is a known user: add one to its approval.approvers, "
        "or withdraw the run with `idsync run deny r1`"
    )
