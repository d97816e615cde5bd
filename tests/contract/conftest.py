"""The contract suite runs once per provider harness (see harness.HARNESSES)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from schemas.plan import Change
from schemas.values import Record
from services.providers.base import KeyReader, Layout, Outcome, Provider
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
    return cls.create(request, tmp_path)


@pytest.fixture
async def side(harness: ProviderHarness) -> AsyncIterator[OpenSide]:
    """Opens providers for the harness's side (a destination unless write=False) and
    closes them after the test."""
    opened: list[Provider] = []

    async def open_side(layout: Layout = LAYOUT, *, write: bool = True) -> Provider:
        if write:
            harness.prepare()
        provider = harness.make(layout)
        await provider.open(write=write)
        opened.append(provider)
        return _Without(provider, harness.ignored) if harness.ignored else provider

    yield open_side
    for provider in opened:
        await provider.close()


class _Without:
    """A provider whose records are compared without the fields it adds to every record."""

    def __init__(self, provider: Provider, ignored: tuple[str, ...]) -> None:
        self.provider = provider
        self.ignored = frozenset(ignored)

    def _strip(self, record: Record) -> Record:
        return {name: value for name, value in record.items() if name not in self.ignored}

    async def open(self, *, write: bool) -> None:
        await self.provider.open(write=write)

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        async for batch in self.provider.read(batch_size):
            yield [self._strip(record) for record in batch]

    def canonical(self, record: Record) -> Record:
        return self._strip(self.provider.canonical(record))

    def reads_keys(self, field: str) -> bool:
        return isinstance(self.provider, KeyReader) and self.provider.reads_keys(field)

    async def read_keys(
        self, field: str, values: Sequence[str], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        assert isinstance(self.provider, KeyReader)
        async for batch in self.provider.read_keys(field, values, batch_size):
            yield [self._strip(record) for record in batch]

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        return await self.provider.apply(changes)

    async def close(self) -> None:
        await self.provider.close()
