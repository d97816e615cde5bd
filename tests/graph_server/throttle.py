"""Graph's throttling as a token bucket (learn.microsoft.com/graph/throttling and
/graph/throttling-limits: "3,000 requests per 2 minutes and 30 seconds" is a bucket of
3,000 refilled at 20 a second): a request that finds it empty is answered 429 with
Retry-After, the seconds until it would pass."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


@dataclass
class Bucket:
    count: float
    """Requests allowed per `seconds` (and the most that can come at once)."""
    seconds: float
    burst: float | None = None
    """The bucket's size when smaller than `count` (a stricter test)."""
    level: float = field(default=-1.0)
    at: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def size(self) -> float:
        return self.burst if self.burst is not None else self.count

    def take(self, cost: float = 1.0) -> float | None:
        """None when the request passes; else the seconds to wait (Retry-After)."""
        now = time.monotonic()
        if self.level < 0:
            self.level = self.size
        self.level = min(self.size, self.level + (now - self.at) * self.rate)
        self.at = now
        if self.level >= cost:
            self.level -= cost
            return None
        return max(1.0, math.ceil((cost - self.level) / self.rate))
