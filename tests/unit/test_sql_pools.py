"""The SQL providers' pools (services/providers/sql/pools.py): one per connection
definition and password, made once however many batches ask at once, a new one when
the definition or the password changes (the old one closed), none kept past
`close_all` or the event loop that made it; and `pool_size` checked."""

from __future__ import annotations

import asyncio
import gc

import msgspec
import pytest

from schemas.connections import Connection, MysqlConnection, PostgresqlConnection
from services.providers.sql.checks import check_server
from services.providers.sql.pools import Definition, Pools, fingerprint


class Pool:
    def __init__(self, connection: Definition, password: str | None) -> None:
        self.host = connection.host
        self.password = password
        self.closed = False


class Made:
    """A `Pools` over fake pools, counting what it made and closed."""

    def __init__(self, fail: int = 0) -> None:
        self.made: list[Pool] = []
        self.fail = fail
        self.pools: Pools[Pool] = Pools(self.make, self.close, self.close)

    async def make(self, connection: Definition, password: str | None) -> Pool:
        await asyncio.sleep(0)  # others ask meanwhile
        if self.fail:
            self.fail -= 1
            raise OSError("connection refused")
        self.made.append(Pool(connection, password))
        return self.made[-1]

    async def close(self, pool: Pool) -> None:
        pool.closed = True


def pg(**fields: object) -> PostgresqlConnection:
    base: dict[str, object] = {"provider": "postgresql", "id": "db", "database": "d", "user": "u"}
    connection = msgspec.convert({**base, **fields}, Connection)
    assert isinstance(connection, PostgresqlConnection)
    return connection


async def test_batches_asking_at_once_share_one_pool_made_once() -> None:
    made = Made()
    pools = await asyncio.gather(*(made.pools.get(pg(), "pw") for _ in range(6)))
    assert len(made.made) == 1 and all(pool is made.made[0] for pool in pools)
    assert await made.pools.get(pg(), "pw") is made.made[0]
    await made.pools.close_all()


async def test_a_changed_definition_or_password_gets_a_new_pool_and_the_old_is_closed() -> None:
    made = Made()
    first = await made.pools.get(pg(), "pw")
    moved = await made.pools.get(pg(host="db2.example.org"), "pw")
    assert moved is not first and moved.host == "db2.example.org"
    rotated = await made.pools.get(pg(host="db2.example.org"), "new-pw")
    assert rotated.password == "new-pw"
    other = await made.pools.get(pg(id="other"), "pw")  # another connection: its own
    await asyncio.sleep(0)  # the old pools close in the background
    assert first.closed and moved.closed and not rotated.closed and not other.closed
    assert made.pools.count() == 2
    await made.pools.close_all()
    assert rotated.closed and other.closed and made.pools.count() == 0
    assert await made.pools.get(pg(), "pw") is not first  # made anew after a stop
    await made.pools.close_all()


async def test_a_pool_that_could_not_be_made_is_tried_again_by_the_next_batch() -> None:
    made = Made(fail=1)
    with pytest.raises(OSError, match="refused"):
        await made.pools.get(pg(), "pw")
    assert made.pools.count() == 0
    assert await made.pools.get(pg(), "pw") is made.made[0]
    await made.pools.close_all()


def test_a_pool_is_never_used_by_another_event_loop_and_closes_with_its_own() -> None:
    made = Made()
    one = asyncio.run(made.pools.get(pg(), "pw"))  # the loop ends, the pool not closed
    assert one.closed  # but the loop's end closed it
    two = asyncio.run(made.pools.get(pg(), "pw"))
    assert one is not two and len(made.made) == 2


def test_the_fingerprint_tells_definitions_and_passwords_apart() -> None:
    assert fingerprint(pg(), "pw") == fingerprint(pg(), "pw")
    assert fingerprint(pg(), "pw") != fingerprint(pg(), "pw2")
    assert fingerprint(pg(), None) != fingerprint(pg(), "")
    assert fingerprint(pg(), "pw") != fingerprint(pg(pool_size=2), "pw")
    assert fingerprint(pg(timeouts={"statement": 5}), "pw") != fingerprint(pg(), "pw")


@pytest.mark.parametrize("provider", ["postgresql", "mysql"])
def test_pool_size_defaults_to_four_and_is_checked(provider: str) -> None:
    fields = {"provider": provider, "id": "db", "database": "d", "user": "u"}
    connection = msgspec.convert(fields, Connection)
    assert isinstance(connection, PostgresqlConnection | MysqlConnection)
    assert connection.pool_size == 4 and check_server(connection, "tls", "disable") == []
    for size, fine in ((1, True), (32, True), (0, False), (33, False)):
        sized = msgspec.convert({**fields, "pool_size": size}, Connection)
        assert isinstance(sized, PostgresqlConnection | MysqlConnection)
        expected = [] if fine else [("pool_size", f"expected 1 to 32 connections, got {size}")]
        assert check_server(sized, "tls", "disable") == expected


async def test_reads_never_take_the_last_connection() -> None:
    made = Made()
    pool = await made.pools.get(pg(), "pw")
    assert not made.pools.lend_to_read(pool, 1)  # one connection: the batches'
    assert [made.pools.lend_to_read(pool, 4) for _ in range(4)] == [True, True, True, False]
    made.pools.read_done(pool)
    assert made.pools.lend_to_read(pool, 4) and not made.pools.lend_to_read(pool, 4)
    await made.pools.close_all()


async def test_pools_made_again_after_a_stop_are_not_closed_by_the_first_ones_end() -> None:
    made = Made()
    await made.pools.get(pg(), "pw")
    await made.pools.close_all()
    again = await made.pools.get(pg(), "pw")
    gc.collect()  # the first pools' watcher, dropped: asyncio closes it
    for _ in range(3):
        await asyncio.sleep(0)
    assert not again.closed and await made.pools.get(pg(), "pw") is again
    await made.pools.close_all()
