"""The contract suite runs once per provider harness (see harness.HARNESSES)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from services.runner.providers.base import Layout, Provider
from tests.contract.harness import HARNESSES, ProviderHarness

LAYOUT = Layout(
    keys=("id",),
    fields=("id", "name", "mail", "groups"),
    multi_valued={"groups": "|"},
)

OpenSide = Callable[..., Awaitable[Provider]]


@pytest.fixture(params=HARNESSES, ids=lambda harness: harness.name)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> ProviderHarness:
    cls: type[ProviderHarness] = request.param
    return cls(tmp_path)


@pytest.fixture
async def side(harness: ProviderHarness) -> AsyncIterator[OpenSide]:
    """Opens providers for the harness's side (a destination unless write=False) and
    closes them after the test."""
    opened: list[Provider] = []

    async def open_side(layout: Layout = LAYOUT, *, write: bool = True) -> Provider:
        provider = harness.make(layout)
        await provider.open(write=write)
        opened.append(provider)
        return provider

    yield open_side
    for provider in opened:
        await provider.close()
