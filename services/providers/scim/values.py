"""Values between SCIM's JSON and idsync's text: booleans as "true"/"false", numbers in
their shortest text, strings exactly as they are (spaces, line breaks, any Unicode).
What is written takes the type the service's schema gives the attribute. Pure."""

from __future__ import annotations

from typing import Any

from core.scim.paths import to_text

from .messages import Attribute

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


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
