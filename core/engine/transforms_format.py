"""The `format` transformation: a text made from a template of source fields.

`{ format = "{first_name}.{last_name}@example.org" }` writes each named field's value
in its place; `{first_name:.1}` its first character (Python's own meaning of `.1`), `{}`
the value so far (its `from` field, or what the previous steps made), `{{` and `}}` a
brace. The template is checked once; a record lacking a value it names fails on its
own, so no "ada.@example.org" is ever made.
"""

from __future__ import annotations

import re
import unicodedata

from core.words import show
from schemas.values import Record, Value

from .context import MappingContext
from .transforms_base import Args, RecordFailed, Step, texts_of

# A doubled brace, a placeholder, or a brace standing alone (an error).
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_SPEC = re.compile(r"\.(\d+)")
_SYNTAX = "{field}, {field:.N} for its first N characters, {} for the value so far, {{ or }}"

# A placeholder: the source field (None: the value so far) and how many characters to keep.
Placeholder = tuple[str | None, int | None]


def placeholders(template: str) -> list[str]:
    """What the placeholders of a template hold ("first_name", "first_name:.1", "" for the
    value so far), unchecked: the fields a job's template names."""
    return [match[1] for match in _TOKEN.finditer(template) if match[1] is not None]


def format_text(args: Args, context: MappingContext) -> Step:
    """`{ format = "{first}.{last}@example.org" }`; see the module's description."""
    template = args.text(label="the template")
    parts = _parse(args, template)
    if not any(isinstance(part, tuple) for part in parts):
        args.fail(
            f"names no field, such as {{first_name}} (a constant is static), got {show(template)}"
        )

    def fill(value: Value | None, record: Record) -> Value | None:
        out: list[str] = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            name, keep = part
            text = _text(value if name is None else record.get(name), name)
            if keep is not None:
                text = unicodedata.normalize("NFC", text)[:keep]
            out.append(text)
        return "".join(out)

    return fill


def _parse(args: Args, template: str) -> list[str | Placeholder]:
    parts: list[str | Placeholder] = []
    at = 0
    for match in _TOKEN.finditer(template):
        if match.start() > at:
            parts.append(template[at : match.start()])
        at = match.end()
        token = match[0]
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif match[1] is None:
            args.fail(
                f'has a lone "{token}" at character {match.start() + 1} of {show(template)} '
                f"(write {_SYNTAX})"
            )
        else:
            parts.append(_placeholder(args, match[1], token))
    if at < len(template):
        parts.append(template[at:])
    return parts


def _placeholder(args: Args, inside: str, token: str) -> Placeholder:
    name, colon, spec = inside.partition(":")
    keep = _SPEC.fullmatch(spec) if colon else None
    # "!r", "[0]" and surrounding spaces mean something else in Python's own templates.
    odd = name.strip() != name or any(char in name for char in "![]")
    if (colon and keep is None) or odd:
        args.fail(f"has an unknown placeholder {token} (write {_SYNTAX})")
    return (name or None, int(keep[1]) if keep else None)


def _text(value: Value | None, name: str | None) -> str:
    """The one text a placeholder stands for; a record without it fails."""
    shown = "{" + (name or "") + "}"
    if isinstance(value, list):
        items = texts_of(value)
        if len(items) > 1:
            raise RecordFailed(f"format needs one value for {shown}, got {show(items)}")
        value = items[0] if items else None
    if isinstance(value, str) and texts_of(value):
        return value
    if value is None or isinstance(value, str):  # empty, or spaces alone
        raise RecordFailed(f"format needs {shown}, which has no value")
    raise RecordFailed(f"format needs text for {shown}, got {show(value)}")
