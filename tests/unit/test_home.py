"""Where commands look for IDSYNC_HOME: the environment, then `.idsync` in the current
folder and its parents, then the per-user default; and a miss says where it looked."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import Unreachable
from services.common.settings import Settings, find_home


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/project/.idsync, and the folder tmp/project/jobs/hr a command runs in."""
    (tmp_path / "project" / ".idsync").mkdir(parents=True)
    (tmp_path / "project" / "jobs" / "hr").mkdir(parents=True)
    (tmp_path / "user").mkdir()
    return tmp_path


def test_the_environment_wins(tree: Path) -> None:
    env = {"IDSYNC_HOME": str(tree / "elsewhere"), "HOME": str(tree / "user")}
    assert find_home(env, tree / "project" / "jobs") == (tree / "elsewhere", ())


def test_a_relative_idsync_home_is_taken_from_the_current_folder(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree)
    home, _ = find_home({"IDSYNC_HOME": "here"}, tree)
    assert home == tree / "here"


@pytest.mark.parametrize("where", [("project",), ("project", "jobs"), ("project", "jobs", "hr")])
def test_the_nearest_idsync_folder_in_this_folder_or_above(tree: Path, where: tuple[str]) -> None:
    cwd = tree.joinpath(*where)
    home, searched = find_home({"HOME": str(tree / "user")}, cwd)
    assert home == tree / "project" / ".idsync"
    assert searched[0] == cwd / ".idsync" and searched[-1] == home


def test_a_nearer_idsync_folder_hides_one_further_up(tree: Path) -> None:
    (tree / "project" / "jobs" / ".idsync").mkdir()
    home, _ = find_home({"HOME": str(tree / "user")}, tree / "project" / "jobs" / "hr")
    assert home == tree / "project" / "jobs" / ".idsync"


def test_without_one_the_per_user_default(tree: Path) -> None:
    elsewhere = tree / "other"
    elsewhere.mkdir()
    home, searched = find_home({"HOME": str(tree / "user")}, elsewhere)
    assert home == tree / "user" / ".local" / "state" / "idsync"
    assert searched == tuple(folder / ".idsync" for folder in (elsewhere, *elsewhere.parents))
    state = tree / "state"
    assert find_home({"XDG_STATE_HOME": str(state)}, elsewhere)[0] == state / "idsync"
    relative = {"XDG_STATE_HOME": "state", "HOME": str(tree / "user")}  # XDG: ignored
    assert find_home(relative, elsewhere)[0] == home


def test_the_per_user_default_is_found_from_anywhere(tree: Path) -> None:
    env = {"HOME": str(tree / "user")}
    default = tree / "user" / ".local" / "state" / "idsync"
    default.mkdir(parents=True)
    (default / "nats.url").write_text("nats://127.0.0.1:4333\n")
    (tree / "other").mkdir()
    home, searched = find_home(env, tree / "other")
    settings = Settings(home=home, home_searched=searched)
    assert settings.resolve_nats_url() == "nats://127.0.0.1:4333"


def test_nothing_found_says_where_it_looked(tree: Path) -> None:
    cwd = tree / "other"
    cwd.mkdir()
    home, searched = find_home({"HOME": str(tree / "user")}, cwd)
    with pytest.raises(Unreachable) as error:
        Settings(home=home, home_searched=searched).resolve_nats_url()
    text = str(error.value)
    assert "IDSYNC_HOME is not set" in text and "IDSYNC_NATS_URL" in text
    assert f"  {cwd / '.idsync'}\n" in text and f"  {tree / '.idsync'}\n" in text
    assert f"{home} (the per-user default)" in text and "idsync up" in text


def test_a_home_found_without_a_running_server_is_named(tree: Path) -> None:
    home, searched = find_home({"HOME": str(tree / "user")}, tree / "project" / "jobs")
    with pytest.raises(Unreachable, match=r"nearest \.idsync folder") as error:
        Settings(home=home, home_searched=searched).resolve_nats_url()
    assert str(home / "nats.url") in str(error.value)
