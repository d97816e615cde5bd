"""IDSYNC_* variables are read by the settings module, wherever they are used."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import BadInput
from services.common import credentials
from services.common.settings import Settings, armed_failpoints


def test_the_nats_user_and_password_come_with_the_settings(tmp_path: Path) -> None:
    env = {"IDSYNC_HOME": str(tmp_path), "IDSYNC_NATS_USER": "ann", "IDSYNC_NATS_PASSWORD": "pw"}
    found = credentials.for_person(Settings.from_env(env))
    assert found == credentials.Credentials(user="ann", password="pw")
    assert credentials.for_person(Settings.from_env({"IDSYNC_HOME": str(tmp_path)})) is None


def test_a_nats_user_without_a_password_is_refused(tmp_path: Path) -> None:
    settings = Settings.from_env({"IDSYNC_HOME": str(tmp_path), "IDSYNC_NATS_USER": "ann"})
    with pytest.raises(BadInput, match="IDSYNC_NATS_USER is set without IDSYNC_NATS_PASSWORD"):
        credentials.for_service(settings, "runner")


def test_failpoints_are_armed_by_name_and_pass() -> None:
    spec = {"IDSYNC_FAILPOINTS": "after-write:3, after-plan"}
    assert armed_failpoints(spec) == {"after-write": 3, "after-plan": 1}
    assert armed_failpoints({}) == {}
