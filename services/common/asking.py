"""Commands asked of the workflow and its replies, read one way by both NATS clients:
nats-py's (services/common/client.py) and the quick one of `idsync job run`
(services/cli/job_quick.py)."""

from __future__ import annotations

from core.errors import BadInput, Denied, Refused, Transient, Unreachable
from schemas.commands import CommandReply, reply_decoder

ANSWER_WAIT = 10.0
"""Seconds the workflow has to answer a command."""
NOBODY_WAIT = 2.0
"""Seconds a command is asked again while the server says no workflow service listens
for it: one starting, or reconnecting to the server, answers within them. (Asked again
only then: a command nobody received runs nothing, so it cannot run a job twice.)"""
NOBODY_PAUSE = 0.1
"""Seconds between two such askings."""


def nobody_answers(verb: str) -> Unreachable:
    return Unreachable(
        f"no workflow service answers {verb} commands: start the services with "
        "`idsync up` (or `idsync serve workflow`)"
    )


def no_answer_in_time() -> Unreachable:
    return Unreachable(f"the workflow service did not answer within {ANSWER_WAIT:.0f} s")


def refusal(refusals: list[str], user: str | None) -> Refused | None:
    """What the server refused this connection last, if it refused anything (a request
    it refuses only times out): a permission error names the user and the subject."""
    if not refusals:
        return None
    return Refused(
        f"the NATS server refused it: {refusals[-1]} "
        f"(user {user or 'anonymous'}; "
        "`idsync user list` shows who may do what)"
    )


def reply_to(verb: str, data: bytes) -> CommandReply:
    """The workflow's reply, or the error it says."""
    reply: CommandReply = reply_decoder.decode(data)
    if not reply.ok:
        refused = Transient if reply.retry else Denied if reply.denied else BadInput
        raise refused(reply.error or f"the {verb} command was refused")
    return reply


def run_reply(reply: CommandReply) -> CommandReply:
    """A run command's reply, which names the run."""
    if reply.run_id is None:
        raise BadInput(reply.error or "the run command named no run")
    return reply
