"""Values a destination cannot hold as they are: a record holding one fails alone.

Two rules, the same for every provider because the mapping applies them
(`CompiledMapping.map`), before a destination's `canonical` could join or cut a value:

- a field without a `delimiter` holds one value: several (two `cn` of a directory entry)
  fail the record, unless the field says `if_several = "first"`;
- text never holds a control character (U+0000 to U+001F) other than tab, line feed and
  carriage return: a NUL is cut off or refused by most tools and libraries that read it
  back, the others are invisible, so the record fails instead of being written
  silently different.
"""

from __future__ import annotations

import re

from core.words import show

from .transforms_base import RecordFailed

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]").search
_SHOWN = 3
"""The values a message about several lists before "and N more"."""


def check_text(text: str) -> None:
    """Raise `RecordFailed` when the text holds a control character (tab, LF, CR pass)."""
    # isprintable() is false for every control character, and several times faster than
    # the search: the search runs only for the rare text that is not printable.
    if text.isprintable():
        return
    found = _CONTROL(text)
    if found is None:
        return
    at = found.start()
    code = ord(found.group())
    name = "NUL, U+0000" if code == 0 else f"U+{code:04X}"
    start = max(0, at - 20)
    excerpt = ("…" if start else "") + show(text[start : at + 20])
    remove = f'transform = {{ replace = "\\u{code:04X}" }}'
    raise RecordFailed(
        f"a control character ({name}) at character {at + 1} of {excerpt}: no destination "
        f"keeps it intact; remove it at the source, or with {remove}"
    )


def check_items(items: list[str]) -> None:
    """`check_text` for each value of a multi-valued field."""
    for item in items:
        check_text(item)


def several(values: list[str], source: str, to: str) -> RecordFailed:
    """The failure of a record whose single-valued field `to` has several values."""
    shown = ", ".join(show(value) for value in values[:_SHOWN])
    if len(values) > _SHOWN:
        shown += f" and {len(values) - _SHOWN} more"
    of = f" of {source}" if source != to else ""
    return RecordFailed(
        f"{len(values)} values{of} ({shown}) for a field without a delimiter, which holds "
        'one; add a delimiter to keep them all, or if_several = "first" to take the first'
    )
