"""A run's changes as history rows: one per field, secrets never kept (core/history.py)."""

from __future__ import annotations

import msgspec

from core.history import Secrets, batch_rows, secrets_of
from schemas.history import SECRET_SHOWN
from schemas.jobs import Job
from schemas.plan import Change, RecordError

JOB = msgspec.convert(
    {
        "id": "hr",
        "source": {"connection": "a", "file": "x.csv"},
        "destination": {"connection": "b", "table": "t"},
        "objects": [
            {
                "keys": ["id"],
                "fields": [
                    {"to": "id"},
                    {"to": "mail"},
                    {"to": "initial", "transform": {"password": 16}},
                    {"to": "legacy", "create_only": True, "transform": ["lower", "password"]},
                ],
            }
        ],
    },
    Job,
)


def test_every_field_of_every_change_is_a_row_with_its_old_and_new_value() -> None:
    changes = [
        Change(action="create", key="1", match={"id": "1"}, set={"id": "1", "mail": "a@x"}),
        Change(
            action="update",
            key="2",
            match={"id": "2"},
            set={"mail": "new@x"},
            clear=("phone",),
            before={"mail": "old@x", "phone": "123"},
        ),
        Change(action="delete", key="3", match={"id": "3"}),
        Change(action="update", key="g", match={"id": "g"}, add={"member": ["a", "b"]}),
    ]
    found = batch_rows("r", "hr", 2, changes, Secrets(), at="2026-01-01T00:00:00Z")
    assert [(r.n, r.key, r.action, r.field, r.old, r.new) for r in found] == [
        (0, "1", "create", "id", "", "1"),
        (1, "1", "create", "mail", "", "a@x"),
        (2, "2", "update", "mail", "old@x", "new@x"),
        (3, "2", "update", "phone", "123", ""),
        (4, "3", "delete", "", "", ""),
        (5, "g", "update", "member (added)", "", "a; b"),
    ]
    assert {(r.run_id, r.batch, r.outcome, r.at) for r in found} == {
        ("r", 2, "applied", "2026-01-01T00:00:00Z")
    }


def test_a_failed_record_marks_its_rows_failed_with_the_reason() -> None:
    changes = [
        Change(action="create", key="1", match={"id": "1"}, set={"id": "1"}),
        Change(action="create", key="2", match={"id": "2"}, set={"id": "2"}),
    ]
    errors = [RecordError(key="2", action="create", message="constraint", object_type="user")]
    found = batch_rows("r", "hr", 1, changes, Secrets(), errors=errors)
    assert [(r.key, r.outcome, r.error) for r in found] == [
        ("1", "applied", ""),
        ("2", "failed", "constraint"),
    ]


def test_passwords_show_that_they_were_set_never_their_value() -> None:
    secrets = secrets_of(JOB)
    changes = [
        Change(
            action="create",
            key="1",
            match={"id": "1"},
            set={"id": "1", "legacy": "s3cret-legacy", "userPassword": "s3cret-user"},
        ),
        Change(
            action="update",
            key="2",
            match={"id": "2"},
            set={"unicodePwd": "s3cret-new", "DB_Password": "s3cret-db"},
            before={"unicodePwd": "s3cret-old"},
        ),
    ]
    found = batch_rows("r", "hr", 1, changes, secrets)
    assert "s3cret" not in msgspec.json.encode(found).decode()
    shown = {(r.key, r.field): (r.old, r.new, r.secret) for r in found}
    assert shown[("1", "id")] == ("", "1", False)
    assert shown[("1", "legacy")] == ("", SECRET_SHOWN, True)
    assert shown[("1", "userPassword")] == ("", SECRET_SHOWN, True)
    assert shown[("1", "initial")] == ("", SECRET_SHOWN, True), "generated: said, not shown"
    assert shown[("2", "unicodePwd")] == (SECRET_SHOWN, SECRET_SHOWN, True)
    assert shown[("2", "DB_Password")] == ("", SECRET_SHOWN, True)
    assert ("2", "initial") not in shown, "generated on create only"


def test_a_field_secret_in_either_version_of_a_job_stays_secret() -> None:
    before = secrets_of(JOB)
    renamed = msgspec.structs.replace(
        JOB,
        objects=[
            msgspec.structs.replace(
                JOB.objects[0], fields=[f for f in JOB.objects[0].fields if f.to == "id"]
            )
        ],
    )
    both = secrets_of(renamed).merged(before)
    assert both.hides("user", "initial") and both.hides("user", "legacy")
    assert not both.hides("user", "mail")
    assert both.generated == {"user": ("initial",)}


def test_a_row_names_its_object_by_the_plan_s_identifier_or_its_key_fields() -> None:
    dn = "uid=jdoe,ou=people,dc=example,dc=org"
    named = Change(action="update", key="jdoe", match={"uid": "jdoe"}, set={"sn": "Doe"})
    named = msgspec.structs.replace(named, identifier=dn)
    row = Change(action="delete", key="7 / b", match={"id": "7", "site": "b"})
    rows = batch_rows("r", "j", 1, [named, row], Secrets())
    assert [r.identifier for r in rows] == [dn, ""]
    keyed = batch_rows("r", "j", 1, [named, row], Secrets(), by_key=True)
    assert [r.identifier for r in keyed] == [dn, "id=7, site=b"]
