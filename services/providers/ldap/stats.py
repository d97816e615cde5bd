"""What the LDAP provider sent: counted on every wire of this process."""

from __future__ import annotations

from typing import ClassVar


class Counters:
    """Requests and their bytes sent over every wire of this process, by operation tag
    (MODIFY, ADD, …): what tests and benchmarks check a write cost, e.g. that one member
    more in a large group is not the whole list sent again."""

    requests: ClassVar[dict[int, int]] = {}
    sent: ClassVar[dict[int, int]] = {}

    @classmethod
    def count(cls, op: bytes, size: int) -> None:
        cls.requests[op[0]] = cls.requests.get(op[0], 0) + 1
        cls.sent[op[0]] = cls.sent.get(op[0], 0) + size

    @classmethod
    def reset(cls) -> None:
        cls.requests.clear()
        cls.sent.clear()
