"""A file destination's "can I write here" check: asked of the file system, leaving
nothing in the folder (not even when killed during it, where files can be unnamed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.providers.writable import cannot_create_in


def test_a_writable_folder_is_said_so_and_left_as_it_was(tmp_path: Path) -> None:
    assert cannot_create_in(tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_is_said_in_the_systems_words(tmp_path: Path) -> None:
    assert cannot_create_in(tmp_path / "gone") == "No such file or directory"


def test_without_unnamed_files_a_hidden_file_is_made_and_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real_open = os.open

    def watched(path: str, flags: int, mode: int = 0o777) -> int:
        made.append(os.path.basename(path))
        return real_open(path, flags, mode)

    monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    monkeypatch.setattr(os, "open", watched)

    assert cannot_create_in(tmp_path) is None
    assert [name for name in made if name.startswith(".idsync-write-check-")], made
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE"), reason="no unnamed files on this system")
def test_where_files_can_be_unnamed_no_name_is_ever_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names: list[str] = []
    real_open = os.open

    def watched(path: str, flags: int, mode: int = 0o777) -> int:
        names.append(str(path))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", watched)

    assert cannot_create_in(tmp_path) is None
    assert names == [str(tmp_path)], "the folder itself opened, no file named in it"
