"""Definitions as documents people read: a job or a connection as the plain tables of its
file, without the fields left at their defaults (so an exported file reads like one
written by hand, and applies back to the very same definition)."""

from __future__ import annotations

from typing import Any

import msgspec


def lean(value: Any) -> Any:
    """`value` as builtins (tables, lists, text, numbers, true/false, date-times), each
    struct without the fields equal to their default and without None."""
    if isinstance(value, msgspec.Struct):
        config = value.__struct_config__
        found: dict[str, Any] = {}
        if config.tag_field is not None:
            found[config.tag_field] = config.tag
        for field in msgspec.structs.fields(value):
            current = getattr(value, field.name)
            if current is None or current == _default(field):
                continue
            found[field.encode_name] = lean(current)
        return found
    if isinstance(value, list | tuple):
        return [lean(item) for item in value]
    if isinstance(value, dict):
        return {key: lean(item) for key, item in value.items() if item is not None}
    return value


def _default(field: msgspec.structs.FieldInfo) -> Any:
    if field.default is not msgspec.NODEFAULT:
        return field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return msgspec.NODEFAULT
