"""What a changed job definition changes: its settings and field map, and the rows only
one of two plans has (core/job_diff.py)."""

from __future__ import annotations

from typing import Any

import msgspec

from core.job_diff import DefinitionChange, definition_changes, plan_difference
from schemas.jobs import Job
from schemas.plan import Change


def job(fields: list[dict[str, Any]], **more: Any) -> Job:
    mapping = {"keys": ["id"], "fields": fields, **more.pop("mapping", {})}
    return msgspec.convert(
        {
            "id": "hr",
            "source": {"connection": "a", "file": "x.csv"},
            "destination": {"connection": "b", "table": "t"},
            "objects": [mapping],
            **more,
        },
        Job,
    )


BASE = [{"to": "id"}, {"to": "dept", "from": "department"}, {"to": "mail"}]


def test_the_same_definition_has_no_difference() -> None:
    assert definition_changes(job(BASE), job(BASE)) == []


def test_each_field_setting_that_changed_is_one_difference() -> None:
    after = [
        {"to": "id"},
        {"to": "dept", "from": "title", "transform": "upper", "policy": "keep"},
        {"to": "phone"},
    ]
    found = definition_changes(job(BASE), job(after))
    assert [(c.what, c.field, c.setting, c.before, c.after) for c in found] == [
        ("changed", "dept", "source", '"department"', '"title"'),
        ("changed", "dept", "transform", "", '"upper"'),
        ("changed", "dept", "policy", '"force"', '"keep"'),
        ("removed", "mail", "", "", ""),
        ("added", "phone", "", "", ""),
    ]
    assert found[0].text() == '~ user dept: source: "department" → "title"'
    assert found[3].text() == "- field user mail"


def test_keys_scopes_and_the_jobs_own_settings_are_differences_too() -> None:
    before = job(BASE)
    after = job(
        BASE,
        mapping={"keys": ["mail"], "source": {"where": {"status": "active"}}},
        batch_size=10,
        destination={"connection": "b", "table": "people"},
    )
    found = {
        (c.object_type, c.setting): (c.before, c.after) for c in definition_changes(before, after)
    }
    assert found == {
        ("", "destination"): (
            '{"connection":"b","include_subcontainers":true,"table":"t"}',
            '{"connection":"b","include_subcontainers":true,"table":"people"}',
        ),
        ("", "batch_size"): ("1000", "10"),
        ("user", "keys"): ('["id"]', '["mail"]'),
        ("user", "source scope"): ("", '{"where":{"status":"active"}}'),
    }


def test_an_object_type_added_or_removed_is_one_difference() -> None:
    groups = {"type": "group", "keys": ["cn"], "fields": [{"to": "cn"}]}
    before = job(BASE)
    after = msgspec.structs.replace(
        before, objects=[*before.objects, msgspec.convert(groups, type(before.objects[0]))]
    )
    assert definition_changes(before, after) == [
        DefinitionChange(what="added", object_type="group")
    ]
    assert definition_changes(after, before) == [
        DefinitionChange(what="removed", object_type="group")
    ]


def update(key: str, **values: str) -> Change:
    return Change(action="update", key=key, match={"id": key}, set=dict(values), before={})


def test_only_the_rows_one_plan_has_are_the_difference() -> None:
    same = update("1", dept="Law")
    before = [same, update("2", dept="Law"), Change(action="delete", key="3", match={"id": "3"})]
    after = [same, update("2", dept="LAW"), update("4", phone="5")]
    found = plan_difference(before, after)
    assert [(r.key, r.action, r.field, r.new_value) for r in found.only_before] == [
        ("2", "update", "dept", "Law"),
        ("3", "delete", "", ""),
    ]
    assert [(r.key, r.action, r.field, r.new_value) for r in found.only_after] == [
        ("2", "update", "dept", "LAW"),
        ("4", "update", "phone", "5"),
    ]
    assert plan_difference(before, before).only_before == []
