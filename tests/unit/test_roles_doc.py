"""docs/roles.md's example role is one `idsync role add` takes, and its policy says
what the page says it does."""

from __future__ import annotations

import re
from pathlib import Path

from core.checks.policy import policy_problems
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping
from services.common.definitions import load_role

DOC = Path(__file__).resolve().parents[2] / "docs" / "roles.md"


def test_the_example_role_loads_and_its_policy_refuses_what_the_page_says(tmp_path: Path) -> None:
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S) if "id =" in b]
    path = tmp_path / "hr-author.toml"
    path.write_text(block)
    role = load_role(path)
    assert role.id == "hr-author" and role.policy is not None
    job = Job(
        id="hr-to-ldap",
        source=Endpoint(connection="hr-2026"),
        destination=Endpoint(connection="ldap"),
        objects=[
            ObjectMapping(
                keys=["uid"],
                on_destination_only="delete",
                fields=[FieldMap(to="uid"), FieldMap(to="userPassword")],
            )
        ],
    )
    problems = policy_problems(job, role.policy)
    assert [p.split(":")[0] for p in problems] == [
        "$.objects[0].on_destination_only",
        "$.objects[0].fields[1].to",
        "$.safety.max_count",
        "$.safety.max_percent",
    ]
