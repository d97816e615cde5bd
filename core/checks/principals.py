"""Principals ("ada", "idsync-workflow") are compared casefolded: "Ada" asking and "ada"
approving is one person, and so is an owner written either way."""

from __future__ import annotations


def same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()
