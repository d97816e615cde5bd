"""A service's set-up waits out a JetStream that does not answer yet (a cluster just
formed), and gives up with JetStream's own error after its patience."""

from __future__ import annotations

import nats.errors
import nats.js.errors
import pytest

from services.common.jetstream import patiently


class Flaky:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


async def test_timeouts_and_unavailable_answers_are_waited_out() -> None:
    no_peers = nats.js.errors.BadRequestError(
        code=400, err_code=10005, description="no suitable peers for placement, peer offline"
    )
    step = Flaky([nats.errors.TimeoutError(), nats.js.errors.ServiceUnavailableError(), no_peers])

    await patiently(step, "the set-up", patience=10.0, pause=0.0)

    assert step.calls == 4


async def test_after_its_patience_the_error_is_jetstreams() -> None:
    step = Flaky([nats.errors.TimeoutError() for _ in range(100)])

    with pytest.raises(nats.errors.TimeoutError):
        await patiently(step, "the set-up", patience=0.0, pause=0.0)

    assert step.calls == 1


async def test_other_errors_are_not_retried() -> None:
    step = Flaky([nats.js.errors.BadRequestError(code=400, err_code=10058)])

    with pytest.raises(nats.js.errors.BadRequestError):
        await patiently(step, "the set-up", patience=10.0, pause=0.0)

    assert step.calls == 1
