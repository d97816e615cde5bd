"""SCIM field names as attribute paths, the values they find, and the PATCH operations and
full resources the edits of a change make (services/providers/scim/, the pure parts)."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import BadInput
from core.scim.paths import Path, flatten, to_text, value_at
from schemas.plan import Change
from services.providers.scim.edits import (
    Field,
    apply_edits,
    edits_of,
    new_resource,
    patch_operations,
)
from services.providers.scim.lookup import key_filter, simple_filter
from services.providers.scim.messages import CORE_USER, Attribute, ResourceType
from services.providers.scim.values import canonical_text, to_json

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER: dict[str, Any] = {
    "schemas": [CORE_USER, ENTERPRISE],
    "id": "2819c223",
    "userName": "bjensen",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "active": True,
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    ENTERPRISE: {"department": "Tour Operations", "manager": {"value": "26118915"}},
}


@pytest.mark.parametrize(
    ("field", "found"),
    [
        ("userName", "bjensen"),
        ("USERNAME", "bjensen"),  # attribute names ignore case
        ("name.givenName", "Barbara"),
        ('emails[type eq "work"].value', "bjensen@example.com"),
        ('emails[type eq "HOME"].value', "babs@jensen.org"),
        ("emails[primary eq true].value", "bjensen@example.com"),
        ('emails[type eq "other"].value', None),
        ("emails.value", ["bjensen@example.com", "babs@jensen.org"]),
        ("emails", ["bjensen@example.com", "babs@jensen.org"]),
        (f"{ENTERPRISE}:department", "Tour Operations"),
        (f"{ENTERPRISE}:manager.value", "26118915"),
        (f"{ENTERPRISE}:manager", "26118915"),
        ("active", True),
        ("title", None),
    ],
)
def test_a_path_finds_its_value(field: str, found: Any) -> None:
    assert value_at(USER, Path.parse(field)) == found


@pytest.mark.parametrize("field", ["emails[type eq work].value", "name..given", "emails[type", ""])
def test_a_field_that_is_no_attribute_path_is_refused_naming_it(field: str) -> None:
    with pytest.raises(BadInput, match="scim: field"):
        Path.parse(field)


def test_flatten_names_every_value_as_a_field_that_reads_it() -> None:
    flat = flatten(USER)
    assert flat["name.givenName"] == "Barbara"
    assert flat['emails[type eq "work"].value'] == "bjensen@example.com"
    assert flat["emails[primary eq true].value"] == "bjensen@example.com"
    assert flat["emails.value"] == ["bjensen@example.com", "babs@jensen.org"]
    assert flat[f"{ENTERPRISE}:manager.value"] == "26118915"
    assert "schemas" not in flat
    for name, value in flat.items():  # every name flatten gives reads its value back
        if value is not None and not name.endswith((".type", ".primary")):
            assert value_at(USER, Path.parse(name)) == value, name


def test_values_as_text_and_back_by_the_schema_type() -> None:
    boolean = Attribute(name="active", type="boolean")
    assert [to_text(v) for v in (True, False, 3, 2.5, 2.0, "x")] == [
        "true",
        "false",
        "3",
        "2.5",
        "2",
        "x",
    ]
    assert to_json("TRUE", boolean) is True and to_json("0", boolean) is False
    assert canonical_text("Yes", boolean) == "true"
    assert canonical_text(" padded ", None) == " padded "
    with pytest.raises(ValueError, match="expected true or false"):
        to_json("maybe", boolean)


def test_key_filters_escape_quotes_and_find_the_simple_ones_again() -> None:
    paths = [Path.parse("userName")]
    assert key_filter(paths, ['o"brien\\x']) == r'userName eq "o\"brien\\x"'
    assert simple_filter(key_filter(paths, ['o"brien'])) == ("userName", 'o"brien')
    work = [Path.parse('emails[type eq "work"].value')]
    assert key_filter(work, ["a@b"]) == 'emails[type eq "work" and value eq "a@b"]'
    assert simple_filter(key_filter(work, ["a@b"])) is None


def fields(*names: str, multi: tuple[str, ...] = ()) -> dict[str, Field]:
    out = {}
    for name in names:
        path = Path.parse(name)
        many = name in multi
        attribute = Attribute(
            name=path.attr, type="complex" if many else "string", multiValued=many
        )
        out[name] = Field(path, attribute, None)
    return out


def typed(field: Field, text: str) -> Any:
    return text


WORK = 'emails[type eq "work"].value'
FIELDS = fields(
    "title", "name.givenName", WORK, "members", f"{ENTERPRISE}:department", multi=("members",)
)


def update(**parts: Any) -> Change:
    return Change(action="update", key="bjensen", match={"userName": "bjensen"}, **parts)


def test_an_update_patches_only_what_it_changes() -> None:
    change = update(
        set={"title": "Boss", WORK: "new@example.com", f"{ENTERPRISE}:department": "Sales"},
        clear=("name.givenName",),
    )
    ops = patch_operations(edits_of(change, FIELDS, typed), USER)
    assert ops == [
        {"op": "replace", "path": "title", "value": "Boss"},
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "new@example.com"},
        {"op": "replace", "path": f"{ENTERPRISE}:department", "value": "Sales"},
        {"op": "remove", "path": "name.givenName"},
    ]


def test_a_missing_typed_item_is_added_and_a_cleared_one_removed() -> None:
    home_only = {**USER, "emails": [{"value": "babs@jensen.org", "type": "home"}]}
    added = patch_operations(edits_of(update(set={WORK: "w@x"}), FIELDS, typed), home_only)
    assert added == [{"op": "add", "path": "emails", "value": [{"type": "work", "value": "w@x"}]}]
    cleared = patch_operations(edits_of(update(clear=(WORK,)), FIELDS, typed), USER)
    assert cleared == [{"op": "remove", "path": 'emails[type eq "work"]'}]
    assert patch_operations(edits_of(update(clear=(WORK,)), FIELDS, typed), home_only) == []


def test_members_change_by_values_added_and_removed() -> None:
    change = update(add={"members": ["u3", "u4"]}, remove={"members": ['we"ird']})
    assert patch_operations(edits_of(change, FIELDS, typed), {}) == [
        {"op": "add", "path": "members", "value": [{"value": "u3"}, {"value": "u4"}]},
        {"op": "remove", "path": r'members[value eq "we\"ird"]'},
    ]


def test_a_full_put_makes_the_same_edits_to_the_resource_read() -> None:
    change = update(
        set={"title": "Boss", WORK: "new@example.com"},
        clear=(
            "name.givenName",
            f"{ENTERPRISE}:department",
        ),
    )
    after = apply_edits(USER, edits_of(change, FIELDS, typed))
    assert after["title"] == "Boss"
    assert after["emails"][0] == {"value": "new@example.com", "type": "work", "primary": True}
    assert after["name"] == {"familyName": "Jensen"}
    assert after[ENTERPRISE] == {"manager": {"value": "26118915"}}
    assert USER["name"]["givenName"] == "Barbara"  # the resource read is left as it was


def test_a_create_posts_its_values_with_the_schemas_they_need() -> None:
    kind = ResourceType(name="User", endpoint="/Users", schema=CORE_USER)
    change = Change(
        action="create",
        key="ada",
        match={"userName": "ada"},
        set={"userName": "ada", WORK: "ada@x", f"{ENTERPRISE}:department": "R&D", "title": ""},
    )
    names = fields("userName", WORK, f"{ENTERPRISE}:department", "title")
    assert new_resource(kind, edits_of(change, names, typed)) == {
        "schemas": [CORE_USER, ENTERPRISE],
        "userName": "ada",
        "emails": [{"type": "work", "value": "ada@x"}],
        ENTERPRISE: {"department": "R&D"},
    }
