"""A job whose objects are moved out of the destination's scope, yet must be found there
again — to be restored (`restore`) or deleted at the end of their lifecycle
(`delete_after`) — is refused when applied, naming the setting: once moved, no run would
read the object again (a returning record would be created a second time, and the
object would never be deleted)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from core.checks.job import check_job
from core.errors import BadInput
from schemas.connections import Connection, CsvConnection, LdapConnection, SecretRef
from schemas.jobs import Job
from services.providers import FACTS

BASE = "ou=People,dc=example,dc=org"
CONNECTIONS: dict[str, Connection] = {
    "hr": CsvConnection(id="hr", directory="/srv/hr"),
    "dir": LdapConnection(
        id="dir",
        urls=["ldap://127.0.0.1"],
        bind_dn="cn=admin,dc=example,dc=org",
        password=SecretRef(env="PW"),
    ),
}
FIELDS = [{"to": "uid"}, {"to": "cn"}, {"to": "sn"}]
LEAVING = {"when": {"field": "status", "equals": "gone"}, "action": "move"}


def job(subtree: bool = True, **objects: Any) -> Job:
    return msgspec.convert(
        {
            "id": "people",
            "source": {"connection": "hr", "file": "people.csv"},
            "destination": {
                "connection": "dir",
                "container": BASE,
                "include_subcontainers": subtree,
            },
            "objects": [{"keys": ["uid"], "fields": FIELDS, **objects}],
        },
        Job,
    )


def problems(the_job: Job) -> list[str]:
    with pytest.raises(BadInput) as refused:
        check_job(the_job, CONNECTIONS, FACTS)
    return str(refused.value).splitlines()


OUT = "ou=Former,dc=example,dc=org"
IN = f"OU=Former, {BASE}"


@pytest.mark.parametrize(
    ("objects", "setting"),
    [
        ({"on_destination_only": "move", "move_to": OUT, "restore": True}, "move_to"),
        ({"on_destination_only": "move", "move_to": OUT, "delete_after": "30d"}, "move_to"),
        ({"leavers": {**LEAVING, "move_to": OUT}, "restore": True}, "leavers.move_to"),
        ({"leavers": LEAVING, "move_to": OUT, "delete_after": "30d"}, "move_to"),
    ],
)
def test_a_move_out_of_the_scope_that_must_be_found_again_is_refused(
    objects: dict[str, Any], setting: str
) -> None:
    [problem] = problems(job(**objects))
    assert f"$.objects[0].{setting}:" in problem and OUT in problem and BASE in problem, problem
    if setting == "leavers.move_to":
        check_job(job(**{**objects, "leavers": {**LEAVING, "move_to": IN}}), CONNECTIONS, FACTS)
    else:
        check_job(job(**{**objects, "move_to": IN}), CONNECTIONS, FACTS)


def test_a_move_out_of_the_scope_is_allowed_where_nothing_looks_for_it() -> None:
    check_job(job(on_destination_only="move", move_to=OUT), CONNECTIONS, FACTS)
    check_job(job(leavers={**LEAVING, "move_to": OUT}), CONNECTIONS, FACTS)


def test_below_the_container_is_out_of_a_scope_of_its_entries_alone() -> None:
    objects = {"on_destination_only": "move", "move_to": IN, "restore": True}
    [problem] = problems(job(subtree=False, **objects))
    assert "$.objects[0].move_to:" in problem, problem


def test_new_objects_put_out_of_the_scope_are_refused() -> None:
    """An object created in a container the destination does not read would be created
    again by every run, and never updated nor deleted."""
    [problem] = problems(job(container=OUT))
    assert "$.objects[0].container:" in problem and OUT in problem, problem
    check_job(job(container=IN), CONNECTIONS, FACTS)
    check_job(job(container=OUT, on_source_only="skip"), CONNECTIONS, FACTS)
    [problem] = problems(job(subtree=False, container=IN))
    assert "$.objects[0].container:" in problem, problem
