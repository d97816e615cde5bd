"""The plan's lines as `idsync job preview` prints them: values as values, objects named
by their main fields, group members added and removed, references cleared, and
warnings about single records told once per kind."""

from __future__ import annotations

import pytest

from core.run_texts import grouped_warnings
from schemas.plan import Change, PlanCounts
from schemas.values import Record
from services.cli.preview import change_line, counts_line

ORDER = ["employee_id", "given_name", "surname", "mail", "department", "groups"]
ADA: Record = {
    "employee_id": "E1",
    "given_name": "Ada",
    "surname": "Lovelace",
    "mail": "ada@example.org",
    "department": "Research",
    "groups": ["staff", "vpn"],
}


def change(action: str, **fields: object) -> Change:
    return Change(action=action, key="E1", match={"employee_id": "E1"}, **fields)  # type: ignore[arg-type]


def test_a_create_names_the_object_by_its_main_fields_in_the_jobs_order() -> None:
    line = change_line(change("create", set=ADA), ORDER)
    assert (
        line == "create  E1  given_name=Ada, surname=Lovelace, mail=ada@example.org, … (+2 fields)"
    )


def test_multi_valued_values_read_as_values_not_lists() -> None:
    small = {"employee_id": "E1", "groups": ["staff", "vpn"]}
    assert change_line(change("create", set=small), ORDER) == "create  E1  groups=staff; vpn"
    update = change("update", set={"groups": ["staff", "vpn"]}, before={"groups": ["staff"]})
    assert change_line(update, ORDER) == "update  E1  groups: staff → staff; vpn"
    assert "[" not in change_line(update, ORDER)


def test_a_delete_names_the_object_as_the_destination_has_it() -> None:
    assert change_line(change("delete"), ORDER, ADA).startswith(
        "delete  E1  given_name=Ada, surname=Lovelace, mail=ada@example.org"
    )
    assert change_line(change("delete"), ORDER) == "delete  E1"  # not read: the key alone
    moved = change("move", container="ou=gone,dc=example,dc=org")
    assert change_line(moved, ORDER, {"employee_id": "E1", "mail": "ada@example.org"}) == (
        "move    E1  mail=ada@example.org → ou=gone,dc=example,dc=org"
    )


def test_updates_show_old_and_new_values_and_what_is_cleared() -> None:
    update = change(
        "update",
        set={"department": "Legal", "mail": "ada@new.org"},
        clear=("surname",),
        before={"department": "Research", "surname": "Lovelace"},
    )
    assert change_line(update, ORDER) == (
        "update  E1  department: Research → Legal, mail: ∅ → ada@new.org, surname: Lovelace → ∅"
    )


def test_a_reference_cleared_alone_shows_its_old_value() -> None:
    cleared = change("update", clear=("manager",), before={"manager": "E7"}, phase="references")
    assert change_line(cleared, ORDER) == "update  E1  manager: E7 → ∅"


def test_group_members_added_and_removed_show() -> None:
    members = [f"uid=u{n},ou=people" for n in range(8)]
    group = Change(
        action="update",
        key="staff",
        match={"cn": "staff"},
        add={"member": members},
        remove={"member": ["uid=gone,ou=people"]},
        phase="references",
    )
    assert change_line(group) == (
        "update  staff  member added: uid=u0,ou=people; uid=u1,ou=people; uid=u2,ou=people; "
        "uid=u3,ou=people; uid=u4,ou=people … (+3), member removed: uid=gone,ou=people"
    )


def test_the_counts_include_objects_enabled_again() -> None:
    line = counts_line(PlanCounts(create=1, enable=2, unchanged=3), "0123456789abcdef")
    assert "1 to create" in line and "2 to enable" in line and line.endswith("plan 0123456789ab")


@pytest.mark.parametrize("count", [1, 3, 100])
def test_a_warning_about_single_records_is_told_once_per_kind(count: int) -> None:
    skipped = [
        f'source record skipped, empty key (employee_id): {{"given_name":"P{n}"}}'
        for n in range(count)
    ]
    other = "destination records share the key 'E9', none of them is changed: {} and {}"
    shown = grouped_warnings([*skipped, other, "... and 12 more warnings"])
    more = f" (and {count - 1} more like it)" if count > 1 else ""
    assert shown == [skipped[0] + more, other, "... and 12 more warnings"]


def test_warnings_a_plan_did_not_keep_are_counted_with_their_kind() -> None:
    # 150 records without a key; a plan keeps 100 warnings and says how many more of
    # that kind there were: one line, with all 149 more.
    skipped = [f'source record skipped, empty key (id): {{"name":"P{n}"}}' for n in range(100)]
    past = "... and 50 more like: source record skipped, empty key (id)"
    shown = grouped_warnings([*skipped, past, "... and 2 more warnings"])
    assert shown == [skipped[0] + " (and 149 more like it)", "... and 2 more warnings"]


def test_in_a_job_of_several_types_those_not_kept_are_counted_with_their_type() -> None:
    skipped = [f'group: source record skipped, empty key (cn): {{"n":"{n}"}}' for n in range(100)]
    past = "group: ... and 7 more like: source record skipped, empty key (cn)"
    shown = grouped_warnings([*skipped, past])
    assert shown == [skipped[0] + " (and 106 more like it)"]
