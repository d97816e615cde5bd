"""Values between SCIM's JSON and idsync's text: booleans as "true"/"false", numbers in
their shortest text, strings exactly as they are (spaces, line breaks, any Unicode).
What is written takes the type the service's schema gives the attribute. Pure."""

from __future__ import annotations

import json
from typing import Any

from schemas.values import Value

from .messages import Attribute

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def to_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def as_value(value: Any, multi: bool) -> Value | None:
    """A record's value from what a path found: a list of texts for a multi-valued field
    (or a list found), else one text."""
    if isinstance(value, list):
        texts = [t for t in (to_text(v) for v in value) if t]
        return texts
    text = to_text(value)
    if multi:
        return [text] if text else []
    return text


def to_json(text: str, attribute: Attribute | None) -> Any:
    """The JSON value written for a text; ValueError saying what was expected."""
    kind = attribute.type.lower() if attribute is not None else "string"
    if kind == "boolean":
        folded = text.strip().lower()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if kind == "integer":
        try:
            return int(text.strip())
        except ValueError:
            raise ValueError(f"expected a whole number, got {text!r}") from None
    if kind == "decimal":
        try:
            return float(text.strip())
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    return text


def canonical_text(text: str, attribute: Attribute | None) -> str:
    """The text the service will give back for a text written (a boolean's "TRUE" reads
    back "true"); the text itself where it cannot be written."""
    if attribute is None or attribute.type.lower() not in ("boolean", "integer", "decimal"):
        return text
    try:
        return to_text(to_json(text, attribute)) or text
    except ValueError:
        return text
