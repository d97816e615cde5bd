"""Generated passwords: the rules a job sets, checked once, and values drawn with `secrets`.

A password never enters a plan, an event, a log or a report: the mapping leaves a
generated field out and names it in `CompiledMapping.generated`; the runner draws the
value when it applies a create (`Passwords.make`), so only the destination sees it.
"""

from __future__ import annotations

import re
import secrets
from random import Random

import msgspec

from core.words import show
from schemas.values import Record

from .transforms_base import Args, RecordFailed, texts_of

UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER = "abcdefghijklmnopqrstuvwxyz"
DIGITS = "0123456789"
# No quotes, backslash, space, comma or semicolon: they trip up CSV files, shells and
# the people who type the password from a mail.
SPECIALS = "!#$%&()*+-./:=?@[]^_{}~"
LOOKALIKES = frozenset("Il1|!O0o`'\"")
"""Characters easily read as one another, left out with exclude_lookalike = true."""
# Active Directory splits the display name into parts on these characters.
_NAME_PARTS = re.compile(r"[,.\-_ #\t]+")
_AD_AVOID = ("sAMAccountName", "displayName")
_ATTEMPTS = 1000
_SYSTEM = secrets.SystemRandom()
OPTIONS = frozenset(
    {
        "upper",
        "lower",
        "digits",
        "specials",
        "exclude_lookalike",
        "ad_complexity",
        "one_for_all",
        "avoid",
    }
)


class PasswordSpec(msgspec.Struct, frozen=True, kw_only=True):
    """The rules of one generated field, as checked when the job is applied."""

    length: int = 16
    upper: bool = True
    lower: bool = True
    digits: bool = True
    specials: str = SPECIALS
    """The special characters to use; "" for none."""
    exclude_lookalike: bool = False
    ad_complexity: bool = False
    """Active Directory's rules: 3 of the 4 categories (every enabled one is used anyway,
    and at least 3 must be enabled), at least 8 characters, and none of the `avoid`
    fields' values or their parts of 3+ characters."""
    one_for_all: bool = False
    """One password for every record of a run instead of one per record."""
    avoid: tuple[str, ...] = ()
    """Destination fields (the account name, the display name) whose values, and parts of
    3 or more characters, the password must not contain (case ignored)."""

    def categories(self) -> list[str]:
        """The characters of each enabled category, look-alikes removed when asked."""
        chosen = [
            chars
            for chars, on in ((UPPER, self.upper), (LOWER, self.lower), (DIGITS, self.digits))
            if on
        ]
        if self.specials:
            chosen.append("".join(dict.fromkeys(self.specials)))
        if self.exclude_lookalike:
            chosen = ["".join(c for c in chars if c not in LOOKALIKES) for chars in chosen]
        return chosen


def password_spec(args: Args) -> PasswordSpec:
    """`"password"` or `{ password = 20, specials = "!#%", exclude_lookalike = true, … }`,
    every rule checked: a generator that can never satisfy its rules is refused now."""
    args.only(OPTIONS)
    length = 16 if args.main is None else args.whole(label="length", low=1)
    specials: object = args.table.get("specials", True)
    if specials is True:
        specials = SPECIALS
    elif specials is False:
        specials = ""
    elif not isinstance(specials, str) or not specials:
        args.fail(f"needs specials as true, false or the characters to use, got {show(specials)}")
    elif odd := [c for c in specials if c.isalnum() or c.isspace() or not c.isprintable()]:
        args.fail(f"needs specials that are not letters, digits or spaces, got {show(odd[0])}")
    ad = args.flag("ad_complexity", False)
    spec = PasswordSpec(
        length=length,
        upper=args.flag("upper", True),
        lower=args.flag("lower", True),
        digits=args.flag("digits", True),
        specials=str(specials),
        exclude_lookalike=args.flag("exclude_lookalike", False),
        ad_complexity=ad,
        one_for_all=args.flag("one_for_all", False),
        avoid=tuple(args.texts("avoid") if args.has("avoid") else _AD_AVOID if ad else ()),
    )
    categories = spec.categories()
    if not categories:
        args.fail("needs at least one of upper, lower, digits or specials")
    if not all(categories):
        args.fail("has a category left with no characters once look-alikes are excluded")
    if length > 1024:
        args.fail(f"needs a length of at most 1024, got {length}")
    if length < len(categories):
        args.fail(f"needs a length of at least {len(categories)} to use every category")
    if ad and len(categories) < 3:
        args.fail("with ad_complexity needs at least 3 of upper, lower, digits and specials")
    if ad and length < 8:
        args.fail(f"with ad_complexity needs a length of at least 8, got {length}")
    return spec


def forbidden(spec: PasswordSpec, record: Record) -> list[str]:
    """What the password may not contain for this record, case-folded."""
    found: list[str] = []
    for field in spec.avoid:
        for text in texts_of(record.get(field)):
            found.append(text)
            found += _NAME_PARTS.split(text)
    return sorted({part.casefold() for part in found if len(part) >= 3})


def generate(spec: PasswordSpec, record: Record, rng: Random = _SYSTEM) -> str:
    """A new password for the record: every enabled category at least once, the rest
    from all of them, shuffled; drawn again while it holds a forbidden part."""
    categories = spec.categories()
    everything = "".join(categories)
    avoid = forbidden(spec, record)
    for _ in range(_ATTEMPTS):
        chars = [rng.choice(chars) for chars in categories]
        chars += [rng.choice(everything) for _ in range(spec.length - len(chars))]
        rng.shuffle(chars)
        password = "".join(chars)
        folded = password.casefold()
        if not any(part in folded for part in avoid):
            return password
    raise RecordFailed(f"no password of {spec.length} characters avoids {', '.join(avoid)}")


def problems(spec: PasswordSpec, password: str, record: Record) -> list[str]:
    """The rules `password` breaks (none for a generated one): for tests and audits."""
    found = []
    if len(password) != spec.length:
        found.append(f"length {len(password)}, not {spec.length}")
    categories = spec.categories()
    if stray := set(password) - set("".join(categories)):
        found.append(f"characters outside the rules: {''.join(sorted(stray))}")
    missing = [chars[:3] for chars in categories if not set(password) & set(chars)]
    if missing:
        found.append(f"no character of {', '.join(missing)}…")
    folded = password.casefold()
    found += [f"contains {part!r}" for part in forbidden(spec, record) if part in folded]
    return found


class Passwords:
    """The passwords of one run: make one per run and ask it for every created record."""

    def __init__(self, rng: Random = _SYSTEM) -> None:
        self._rng = rng
        self._shared: dict[str, str] = {}

    def make(self, field: str, spec: PasswordSpec, record: Record) -> str:
        """The password of `field` for `record` (in destination shape). With one_for_all
        every record of the run gets the same one; a record whose name it happens to
        contain fails rather than receiving a different one."""
        if not spec.one_for_all:
            return generate(spec, record, self._rng)
        shared = self._shared.get(field)
        if shared is None:
            shared = self._shared[field] = generate(spec, {}, self._rng)
        folded = shared.casefold()
        if clash := [part for part in forbidden(spec, record) if part in folded]:
            raise RecordFailed(f"the shared password contains {clash[0]!r}", field)
        return shared
