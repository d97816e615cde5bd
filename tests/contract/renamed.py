"""A provider seen under other field names: the contract suite's fields (id, name, …)
on a directory whose attributes are called otherwise (Active Directory)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence

import msgspec

from schemas.connections import Connection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record
from services.providers.base import KeyReader, Layout, Outcome, Provider


class Renamed:
    """Records and changes renamed on the way in and out; fields outside the renaming
    are not shown (a directory adds many of its own)."""

    def __init__(
        self,
        factory: Callable[[Connection, Endpoint, Layout], Provider],
        connection: Connection,
        endpoint: Endpoint,
        layout: Layout,
        names: Mapping[str, str],
    ) -> None:
        self.out = dict(names)
        self.back = {theirs.lower(): ours for ours, theirs in names.items()}
        inner = Layout(
            keys=tuple(self.out[k] for k in layout.keys),
            fields=tuple(self.out[f] for f in layout.fields or names),
            multi_valued={self.out[f]: d for f, d in layout.multi_valued.items()},
        )
        self.provider = factory(connection, endpoint, inner)

    def _theirs(self, record: Record) -> Record:
        return {self.out.get(name, name): value for name, value in record.items()}

    def _ours(self, record: Record) -> Record:
        return {
            self.back[name.lower()]: value
            for name, value in record.items()
            if name.lower() in self.back
        }

    async def open(self, *, write: bool) -> None:
        await self.provider.open(write=write)

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        async for batch in self.provider.read(batch_size):
            yield [self._ours(record) for record in batch]

    def canonical(self, record: Record) -> Record:
        return self._ours(self.provider.canonical(self._theirs(record)))

    def reads_keys(self, field: str) -> bool:
        inner = self.provider
        return isinstance(inner, KeyReader) and inner.reads_keys(self.out.get(field, field))

    async def read_keys(
        self, field: str, values: Sequence[str], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        assert isinstance(self.provider, KeyReader)
        async for batch in self.provider.read_keys(self.out.get(field, field), values, batch_size):
            yield [self._ours(record) for record in batch]

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        renamed = [
            msgspec.structs.replace(
                change,
                match=self._theirs(change.match),
                set=self._theirs(change.set),
                clear=tuple(self.out.get(name, name) for name in change.clear),
                object_type="contact",
            )
            for change in changes
        ]
        return await self.provider.apply(renamed)

    async def close(self) -> None:
        await self.provider.close()
