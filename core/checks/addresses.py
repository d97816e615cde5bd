"""Mail addresses as people write them in job files: "ada@example.org" or
"Ada Lovelace <ada@example.org>". Pure: checked when a job is applied and again
before a mail is built, since a job can reach the store without passing a file.
"""

from __future__ import annotations

import re
from email.headerregistry import Address

# Deliberately narrower than RFC 5322: a dot-atom local part and a dotted domain of
# letters, digits and hyphens catch typos ("ada@example", "ada example.org") and leave
# nothing for a mail server to read two ways.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
_ADDR_SPEC = re.compile(rf"({_LOCAL})@({_DOMAIN})")
_NAMED = re.compile(r"(.*?)\s*<([^<>]*)>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
EXAMPLE = '"ada@example.org" or "Ada Lovelace <ada@example.org>"'


class BadAddress(ValueError):
    """A recipient that cannot be mailed as written; the message says what to fix."""


def unsafe_header_text(text: str) -> str | None:
    """Why `text` cannot go into a mail header (a line break or NUL would let data
    start a header of its own), or None when it can."""
    found = _CONTROL.search(text)
    if found is None:
        return None
    return f"contains the control character {found.group()!r}, which a mail header cannot hold"


def parse_address(text: str) -> Address:
    """The address `text` names; BadAddress says why it is not one."""
    if (found := _CONTROL.search(text)) is not None:
        raise BadAddress(f"expected an address on one line, without {found.group()!r}")
    text = text.strip()
    named = _NAMED.fullmatch(text)
    name, spec = (named[1].strip().strip('"'), named[2].strip()) if named else ("", text)
    if "<" in name or ">" in name or '"' in name:
        raise BadAddress(f"expected an address such as {EXAMPLE}")
    match = _ADDR_SPEC.fullmatch(spec)
    if match is None:
        raise BadAddress(f"expected an address such as {EXAMPLE}")
    return Address(display_name=name, username=match[1], domain=match[2])


def address_problem(text: str) -> str | None:
    """Why `text` is not a recipient idsync can mail, or None when it is."""
    try:
        parse_address(text)
    except BadAddress as error:
        return str(error)
    return None
