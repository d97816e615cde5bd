"""Generated passwords: every draw keeps every rule; impossible rules are refused."""

from __future__ import annotations

from typing import Any

import pytest

from core.engine.passwords import (
    DIGITS,
    LOOKALIKES,
    LOWER,
    SPECIALS,
    UPPER,
    Passwords,
    PasswordSpec,
    generate,
    password_spec,
    problems,
)
from core.engine.transforms import TransformError
from core.engine.transforms_base import Args, RecordFailed
from schemas.values import Record

DRAWS = 10_000
PATH = "$.objects[0].fields[4].transform"
PERSON: Record = {
    "sAMAccountName": "alovelace",
    "displayName": "Ada King-Lovelace, Countess",
    "login": "ada",
}


def spec_of(table: dict[str, Any] | None) -> PasswordSpec:
    return password_spec(Args("password", table, PATH))


RULES = {
    "defaults": None,
    "short-digits-only": {"password": 4, "upper": False, "lower": False, "specials": False},
    "custom-specials": {"password": 12, "specials": "#*"},
    "no-lookalikes": {"password": 20, "exclude_lookalike": True},
    "ad-complexity": {"password": 8, "ad_complexity": True},
    "ad-letters-digits-no-lookalikes": {
        "password": 9,
        "specials": False,
        "ad_complexity": True,
        "exclude_lookalike": True,
        "avoid": ["sAMAccountName", "displayName", "login"],
    },
}


@pytest.mark.parametrize("table", list(RULES.values()), ids=list(RULES))
def test_every_draw_keeps_every_rule(table: dict[str, Any] | None) -> None:
    spec = spec_of(table)
    allowed = set("".join(spec.categories()))
    for _ in range(DRAWS):
        password = generate(spec, PERSON)
        assert problems(spec, password, PERSON) == [], password
        assert len(password) == spec.length and set(password) <= allowed
        if spec.exclude_lookalike:
            assert not set(password) & LOOKALIKES
        if spec.ad_complexity:
            kinds = [UPPER, LOWER, DIGITS, SPECIALS]
            assert sum(bool(set(password) & set(kind)) for kind in kinds) >= 3
            folded = password.casefold()
            for part in ("alovelace", "king", "lovelace", "countess", "ada"):
                assert part not in folded


def test_the_rules_as_checked() -> None:
    assert spec_of(None) == PasswordSpec(length=16)
    ad = spec_of({"password": 14, "ad_complexity": True})
    assert ad.avoid == ("sAMAccountName", "displayName")  # AD's own attribute names
    custom = spec_of({"password": 10, "specials": "#*#|", "exclude_lookalike": True})
    assert custom.specials == "#*#|"
    assert custom.categories()[-1] == "#*"  # once each, and "|" is a look-alike
    assert not set("".join(custom.categories())) & LOOKALIKES


def test_rules_no_password_can_keep_fail_that_record() -> None:
    tiny = spec_of(
        {
            "password": 3,
            "upper": False,
            "lower": False,
            "digits": False,
            "specials": "#*",
            "avoid": ["login"],
        }
    )
    every = ["###", "#*#", "*#*", "***", "##*", "#**", "*##", "**#"]  # all 3 of "#" and "*"
    with pytest.raises(RecordFailed, match="no password of 3 characters avoids"):
        generate(tiny, {"login": every})


def test_one_password_per_record_or_one_for_all() -> None:
    run = Passwords()
    each = spec_of({"password": 16})
    assert len({run.make("pw", each, PERSON) for _ in range(100)}) == 100
    shared = spec_of({"password": 16, "one_for_all": True})
    first = run.make("pw", shared, PERSON)
    assert all(run.make("pw", shared, {"login": str(n)}) == first for n in range(100))
    assert run.make("other", shared, PERSON) != first  # per field
    assert Passwords().make("pw", shared, PERSON) != first  # per run


def test_one_for_all_fails_the_record_whose_name_it_contains() -> None:
    spec = spec_of({"password": 8, "one_for_all": True, "avoid": ["login"]})
    run = Passwords()
    shared = run.make("pw", spec, {})
    with pytest.raises(RecordFailed, match="the shared password contains"):
        run.make("pw", spec, {"login": shared[2:6]})


BAD = [
    ("ad-too-short", {"password": 7, "ad_complexity": True}, "at least 8, got 7"),
    (
        "ad-two-categories",
        {"password": 12, "ad_complexity": True, "digits": False, "specials": False},
        "at least 3 of upper",
    ),
    (
        "no-category",
        {"password": 8, "upper": False, "lower": False, "digits": False, "specials": False},
        "at least one of upper, lower, digits or specials",
    ),
    ("shorter-than-categories", {"password": 3}, "at least 4 to use every category"),
    ("zero", {"password": 0}, "whole number length of at least 1, got 0"),
    ("text-length", {"password": "long"}, 'needs a whole number length, got "long"'),
    ("huge", {"password": 5000}, "at most 1024"),
    (
        "specials-letters",
        {"password": 8, "specials": "#a"},
        'not letters, digits or spaces, got "a"',
    ),
    ("specials-space", {"password": 8, "specials": "# "}, 'got " "'),
    ("specials-empty", {"password": 8, "specials": ""}, "true, false or the characters"),
    (
        "specials-only-lookalikes",
        {"password": 8, "specials": "|!", "exclude_lookalike": True},
        "no characters once look-alikes are excluded",
    ),
    ("flag", {"password": 8, "one_for_all": "yes"}, 'one_for_all as true or false, got "yes"'),
    ("unknown-option", {"password": 8, "lenght": 9}, 'password has no option "lenght"'),
    ("avoid", {"password": 8, "avoid": [1]}, "avoid as a list of texts"),
]


@pytest.mark.parametrize(("table", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_rules_that_cannot_be_kept_are_refused(table: dict[str, Any], message: str) -> None:
    with pytest.raises(TransformError) as caught:
        spec_of(table)
    assert caught.value.path == PATH
    assert message in caught.value.problem
