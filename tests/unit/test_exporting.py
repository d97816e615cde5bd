"""Jobs and connections written as files and read back: the same definitions, TOML or
JSON, fields at their defaults left out, secrets only as the references they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.documents import lean
from schemas.connections import Connection
from schemas.jobs import Job
from services.common.definitions import load_connections, load_job
from services.common.exporting import Format, connections_text, job_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def examples() -> tuple[list[Connection], list[Job]]:
    connections = load_connections(EXAMPLES / "connections.toml")
    jobs = [load_job(path) for path in sorted((EXAMPLES / "jobs").glob("*.toml"))]
    return connections, jobs


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_every_example_job_and_connection_reads_back_the_same(
    fmt: Format, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORP_LDAP_PASSWORD", "s3cret-value")
    connections, jobs = examples()
    assert jobs and connections
    written = tmp_path / f"connections.{fmt}"
    written.write_text(connections_text(connections, fmt))
    assert load_connections(written) == sorted(connections, key=lambda c: c.id)
    assert "s3cret-value" not in written.read_text()
    for job in jobs:
        path = tmp_path / f"{job.id}.{fmt}"
        path.write_text(job_text(job, fmt))
        assert load_job(path) == job


def test_a_password_is_written_as_the_reference_it_is(tmp_path: Path) -> None:
    connections, _ = examples()
    text = connections_text(connections, "toml")
    assert 'env = "CORP_LDAP_PASSWORD"' in text or "[corp-ldap.password]" in text
    ldap = next(c for c in connections if c.id == "corp-ldap")
    assert lean(ldap)["password"] == {"env": "CORP_LDAP_PASSWORD"}


def test_fields_left_at_their_defaults_are_left_out() -> None:
    _, jobs = examples()
    document = lean(jobs[0])
    assert "batch_size" not in document and "enabled" not in document
    assert "staging" not in document and "safety" not in document
    assert all("policy" not in field for obj in document["objects"] for field in obj["fields"])


def test_a_job_shown_as_json_applies_back(tmp_path: Path) -> None:
    import msgspec

    _, jobs = examples()
    shown = tmp_path / "job.json"
    shown.write_bytes(msgspec.json.format(msgspec.json.encode(jobs[0]), indent=2))
    assert load_job(shown) == jobs[0]
    connections, _ = examples()
    listed = tmp_path / "connections.json"
    listed.write_bytes(msgspec.json.encode(connections))  # as `connection list --json` prints
    assert load_connections(listed) == connections
