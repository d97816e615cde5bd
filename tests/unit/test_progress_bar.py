"""`idsync job run --wait`'s bar ends at 100 %, though a plan counts objects and its
batches report changes (an object restored and updated has two)."""

from __future__ import annotations

import io

from services.cli.output import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_never_passes_its_end() -> None:
    out = Terminal()
    bar = Progress(out, width=10)
    bar.start(2)
    bar.advance(3)
    last = out.getvalue().split("\r")[-1]
    assert "100%" in last and "3/3 changes" in last
