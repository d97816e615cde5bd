"""Provider capabilities: a job asking a destination for what it cannot do is refused
when it is applied, naming the setting and what to choose instead."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import msgspec
import pytest

from core.checks.facts import ProviderFacts
from core.checks.job import check_job
from core.errors import BadInput
from schemas.connections import Connection, CsvConnection, SqliteConnection
from schemas.jobs import Job
from schemas.plan import Action
from services.providers import FACTS

CONNECTIONS: dict[str, Connection] = {
    "hr": CsvConnection(id="hr", directory="/srv/hr"),
    "db": SqliteConnection(id="db", path="/srv/people.sqlite"),
}


def job(destination: str = "db", **objects: Any) -> Job:
    where = {"db": {"table": "people"}, "hr": {"file": "out.csv"}}[destination]
    return msgspec.convert(
        {
            "id": "people",
            "source": {"connection": "hr", "file": "people.csv"},
            "destination": {"connection": destination, **where},
            "objects": [{"keys": ["uid"], **objects}],
        },
        Job,
    )


def sqlite_can(*actions: Action) -> Mapping[str, ProviderFacts]:
    """The registry's facts, with SQLite said to apply `actions`."""
    return {**FACTS, "sqlite": dataclasses.replace(FACTS["sqlite"], actions=frozenset(actions))}


def problems(the_job: Job, facts: Mapping[str, ProviderFacts] = FACTS) -> list[str]:
    with pytest.raises(BadInput) as raised:
        check_job(the_job, CONNECTIONS, facts)
    return str(raised.value).splitlines()


@pytest.mark.parametrize("provider", ["csv", "sqlite"])
def test_files_and_tables_create_update_and_delete_only(provider: str) -> None:
    connection = CONNECTIONS["hr" if provider == "csv" else "db"]
    assert FACTS[provider].can(connection) == frozenset({"create", "update", "delete"})


def test_an_unlisted_provider_gets_the_basic_actions() -> None:
    assert ProviderFacts(tag="no-such-provider").can(CONNECTIONS["db"]) == frozenset(
        {"create", "update", "delete"}
    )


@pytest.mark.parametrize(
    ("destination", "action", "expected"),
    [
        ("db", "disable", "destination db (sqlite) cannot disable; choose delete or skip"),
        ("db", "move", "destination db (sqlite) cannot move; choose delete or skip"),
        ("hr", "disable", "destination hr (csv) cannot disable; choose delete or skip"),
    ],
)
def test_an_action_the_destination_lacks_is_refused(
    destination: str, action: str, expected: str
) -> None:
    assert problems(job(destination, on_destination_only=action)) == [
        f'job "people": $.objects[0].on_destination_only: {expected}'
    ]


@pytest.mark.parametrize("action", ["delete", "skip"])
def test_what_the_destination_can_do_passes(action: str) -> None:
    check_job(job(on_destination_only=action), CONNECTIONS, FACTS)
    check_job(job(on_source_only="skip", on_both="skip"), CONNECTIONS, FACTS)


def test_a_move_without_move_to_is_refused() -> None:
    directory = sqlite_can("create", "update", "delete", "disable", "move")
    assert problems(job(on_destination_only="move"), directory) == [
        'job "people": $.objects[0].move_to: expected the container on_destination_only = '
        '"move" moves objects to, such as "ou=Former,dc=example,dc=org", got nothing'
    ]
    check_job(job(on_destination_only="move", move_to="ou=Former,dc=x"), CONNECTIONS, directory)
    check_job(job(on_destination_only="disable"), CONNECTIONS, directory)


def test_an_action_asked_for_creates_or_updates_is_checked_too() -> None:
    assert problems(job(), sqlite_can("delete")) == [
        'job "people": $.objects[0].on_source_only: destination db (sqlite) cannot create; '
        "choose skip",
        'job "people": $.objects[0].on_both: destination db (sqlite) cannot update; choose skip',
    ]
