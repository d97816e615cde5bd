"""Where a CSV file's unclosed quote starts. The csv module only says "unexpected end of
data" once the file has ended inside a quoted value; a person wants the line to fix."""

from __future__ import annotations

from collections.abc import Iterable

UNCLOSED = "unexpected end of data"
"""What the csv module says (strict) when the file ends inside a quoted value."""


def unclosed_quote_line(lines: Iterable[str], first: int, delimiter: str, quote: str) -> int:
    """The line on which the quote that is never closed opens, reading `lines` (as the
    file gives them, line endings kept) from the row that starts on line `first`. As the
    csv module reads: a quote opens a value only at its start, two quotes inside are one."""
    opened, inside, at_start = first, False, True
    for number, text in enumerate(lines, start=first):
        i = 0
        while i < len(text):
            char = text[i]
            if inside:
                if char == quote and text[i + 1 : i + 2] == quote:
                    i += 1  # an escaped quote
                elif char == quote:
                    inside, at_start = False, False
            elif char == quote and at_start:
                inside, opened = True, number
            else:
                at_start = char in (delimiter, "\r", "\n")
            i += 1
    return opened
