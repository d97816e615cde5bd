"""deploy/: Prometheus's alert rules load and fire as they should (promtool), the Grafana
dashboard is well formed, and compose.yaml serves every service's metrics to them.
That every metric they name is exported is tests/integration/test_observability.py's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.service_names import SERVICES
from tests.deploy_files import (
    ALERTS,
    ALERTS_TEST,
    SCRAPING,
    alerts,
    dashboard,
    dashboard_queries,
    metric_names_used,
)

COMPOSE = Path(__file__).parents[2] / "compose.yaml"
PORT = "9464"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (Debian's prometheus package has it; "
    "scripts/install-test-deps.sh installs it as root)",
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=60, cwd=ALERTS.parent
    )


@needs_promtool
def test_promtool_loads_the_alert_rules() -> None:
    checked = promtool("check", "rules", ALERTS.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in checked.stdout


@needs_promtool
def test_each_alert_fires_on_what_should_fire_it_and_only_then() -> None:
    tested = promtool("test", "rules", ALERTS_TEST.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_says_what_and_how_bad() -> None:
    for rule in alerts():
        assert rule["alert"].startswith("Idsync"), rule
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_dashboard_is_one_grafana_dashboard_of_idsync_queries() -> None:
    board = dashboard()
    assert board["uid"] == "idsync" and board["schemaVersion"] >= 36
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "each panel its own id"
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
    for query in dashboard_queries():
        assert "idsync_" in query, query
    names = metric_names_used()
    # The figures an operator asks for first are all on it or alerted on.
    for name in (
        "idsync_runs_total",
        "idsync_records_total",
        "idsync_run_duration_seconds_bucket",
        "idsync_phase_duration_seconds_bucket",
        "idsync_batch_apply_duration_seconds_bucket",
        "idsync_consumer_pending_messages",
        "idsync_redeliveries_total",
        "idsync_dead_letters_total",
        "idsync_runners_alive",
        "idsync_last_success_timestamp_seconds",
        "idsync_provider_errors_total",
    ):
        assert name in names, name


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def served(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if "build" in service and not service.get("profiles")
    }


def test_every_service_serves_its_metrics_in_compose(compose: dict[str, Any]) -> None:
    services = served(compose)
    assert sorted(services) == sorted(SERVICES)
    for name, service in services.items():
        environment = service["environment"]
        assert environment["IDSYNC_METRICS_PORT"] == PORT, name
        assert environment["IDSYNC_METRICS_HOST"] == "0.0.0.0", name
        assert PORT in service["expose"], name


def test_prometheus_scrapes_every_service_and_every_runner(compose: dict[str, Any]) -> None:
    scraping = yaml.safe_load(SCRAPING.read_text())
    (job,) = scraping["scrape_configs"]
    assert job["job_name"] == "idsync"  # IdsyncServiceDown's up{job="idsync"}
    targets = {t for config in job["static_configs"] for t in config["targets"]}
    runners = {f"{n}:{config['port']}" for config in job["dns_sd_configs"] for n in config["names"]}
    assert targets | runners == {f"{name}:{PORT}" for name in served(compose)}
    assert runners == {f"runner:{PORT}"}, "runners scale: found by DNS, every one"
    monitoring = compose["services"]["prometheus"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in monitoring["volumes"]
    assert scraping["rule_files"] == ["/etc/prometheus/alerts.yml"]
