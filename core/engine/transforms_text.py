"""Transformations of text: case, ASCII, trimming, cutting, replacing, splitting.

Each builder checks its arguments once and returns a `Step`; on a multi-valued value
the step works on each item. Cutting counts characters of the NFC form, so "é" is one
character whether the source wrote it composed or as "e" and a combining accent; title
case, and what `replace` finds, take the text so too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from itertools import cycle

from anyascii import anyascii

from core.words import show
from schemas.values import Record, Value

from .context import MappingContext
from .transforms_base import Args, Step, each, nfc, not_text

Match = re.Match[str]


def _no_arguments(args: Args) -> None:
    if args.table and args.main is not True:
        args.fail(f'takes no arguments: write "{args.name}"')


def upper(args: Args, context: MappingContext) -> Step:
    _no_arguments(args)
    return each("upper", str.upper)


def lower(args: Args, context: MappingContext) -> Step:
    _no_arguments(args)
    return each("lower", str.lower)


def title(args: Args, context: MappingContext) -> Step:
    """Each word capitalized: "o'brien-smith" -> "O'Brien-Smith", "élodie" -> "Élodie"
    (however the source wrote its accents: a combining mark is part of its letter's word,
    not the end of it — "mu\u0308ller" is "Müller", not "MüLler")."""
    _no_arguments(args)
    return each("title", _titled)


def _titled(text: str) -> str:
    text = nfc(text)
    if text.isascii() or not any(map(_is_mark, text)):
        return text.title()
    out: list[str] = []
    cased = False  # str.title's rule: a cased character after another is lower-cased
    for char in text:
        if _is_mark(char):  # no accent composes with the letter before it: left as it is
            out.append(char)
            continue
        out.append(char.lower() if cased else char.title())
        cased = char.isupper() or char.islower() or char.istitle()
    return "".join(out)


def _is_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("M")


def ascii_text(args: Args, context: MappingContext) -> Step:
    """Every letter written in ASCII, for identifiers: "Zoë Ångström" -> "Zoe Angstrom",
    ß -> ss, ø -> o, Ł -> L, æ -> ae, other scripts transliterated ("Дмитрий" -> "Dmitriy").
    anyascii's tables (ISC licence); text already ASCII is returned as it is."""
    _no_arguments(args)
    return each("ascii", lambda text: text if text.isascii() else anyascii(text))


def trim(args: Args, context: MappingContext) -> Step:
    """`"trim"` removes surrounding white space; `{ trim = ".-" }` those characters."""
    if args.main is None or args.main is True:
        return each("trim", str.strip)
    chars = args.text(label="the characters to remove")
    if not chars:
        args.fail('needs the characters to remove, such as " .-", got ""')
    return each("trim", lambda text: text.strip(chars))


def left(args: Args, context: MappingContext) -> Step:
    count = args.whole(label="length")
    return each("left", lambda text: nfc(text)[:count])


def right(args: Args, context: MappingContext) -> Step:
    count = args.whole(label="length")
    if count == 0:
        return each("right", lambda text: "")
    return each("right", lambda text: nfc(text)[-count:])


def substring(args: Args, context: MappingContext) -> Step:
    """`{ substring = 2, length = 3 }`: from the third character (the first is 0; a
    negative start counts from the end), at most `length` characters (all without)."""
    start = args.whole(label="start", low=-(10**9))
    length = args.whole("length") if args.has("length") else None

    def cut(text: str) -> str:
        text = nfc(text)
        begin = max(len(text) + start, 0) if start < 0 else start
        return text[begin:] if length is None else text[begin : begin + length]

    return each("substring", cut)


def replace(args: Args, context: MappingContext) -> Step:
    """`{ replace = "old", with = "new" }`; `regex = true` makes "old" a Python regular
    expression and "new" may use \\1 or \\g<name>; `count` limits the replacements (0: all);
    `ignore_case = true` matches either case."""
    old = args.text(label="the text to find")
    new = args.text("with", default="")
    count = args.whole("count", default=0)
    as_regex = args.flag("regex", False)
    ignore_case = args.flag("ignore_case", False)
    if not old:
        args.fail('needs the text to find, such as " " or "^0+", got ""')
    old = nfc(old)
    if not as_regex and not ignore_case:
        limit = count or -1
        return each("replace", lambda text: nfc(text).replace(old, new, limit))
    flags = re.IGNORECASE if ignore_case else 0
    try:
        pattern = re.compile(old if as_regex else re.escape(old), flags)
    except re.error as error:
        args.fail(f"needs a valid regular expression, got {show(old)}: {error}")
    if not as_regex:
        new = new.replace("\\", "\\\\")  # plain text: backslashes are not group references
    sub = pattern.sub
    repl = _template(args, pattern, new)
    return each("replace", lambda text: sub(repl, nfc(text), count))


_MARK = re.compile("\ue000(\\d+)\ue001")


def _template(args: Args, pattern: re.Pattern[str], template: str) -> str | Callable[[Match], str]:
    """The replacement, checked and split once into text and group numbers: "\\3" with two
    groups is refused now, not at the first record that matches, and no record pays for
    parsing the template again (re would, at every call).

    How: expand the template with re itself against a match whose group n holds a marker
    "<n>" in private-use characters, then split the result on the markers.
    """
    if "\\" not in template:
        return template  # nothing to expand: re copies it as it is
    names = {number: name for name, number in pattern.groupindex.items()}
    marks = [f"\ue000{n}\ue001" for n in range(1, pattern.groups + 1)]
    groups = "".join(
        f"(?P<{names[n]}>{re.escape(mark)})" if n in names else f"({re.escape(mark)})"
        for n, mark in enumerate(marks, start=1)
    )
    try:
        expanded = re.compile(groups).sub(template, "".join(marks), count=1)
    except (re.error, IndexError) as error:
        args.fail(f"has a replacement {show(template)} that does not fit the expression: {error}")
    if "\ue000" in template:
        return template  # the markers themselves: leave the work to re
    parts = _MARK.split(expanded)
    chunks = [int(part) if odd else part for odd, part in zip(cycle((0, 1)), parts) if part]
    if all(isinstance(chunk, str) for chunk in chunks):
        constant = "".join(map(str, chunks))
        return lambda match: constant

    def expand(match: Match) -> str:
        group = match.group
        return "".join([c if c.__class__ is str else (group(c) or "") for c in chunks])

    return expand


def split(args: Args, context: MappingContext) -> Step:
    """`{ split = "," }`: the parts as a multi-valued value (empty parts dropped);
    `{ split = ",", nth = 1 }`: only the second part (0 is the first, -1 the last;
    a part that is not there is no value)."""
    separator = args.text(label="separator")
    if not separator:
        args.fail('needs a separator such as "," or " ", got ""')
    if not args.has("nth"):

        def parts(value: Value | None, record: Record) -> Value | None:
            if isinstance(value, str):
                return [part for part in value.split(separator) if part]
            if isinstance(value, list):
                return [part for item in value for part in item.split(separator) if part]
            return not_text("split", value)

        return parts
    index = args.whole("nth", low=-(10**9))

    def pick(text: str) -> str | None:
        cut = text.split(separator)
        return cut[index] if -len(cut) <= index < len(cut) else None

    return each("split", pick)


def nth(args: Args, context: MappingContext) -> Step:
    """`{ nth = 0 }`: one item of a multi-valued value (0 the first, -1 the last)."""
    index = args.whole(label="position", low=-(10**9))

    def pick(value: Value | None, record: Record) -> Value | None:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return value[index] if -len(value) <= index < len(value) else None
        return not_text("nth", value)

    return pick
