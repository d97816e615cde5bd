"""What deploy/ asks of the services: the metric names its dashboard and alerts use."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "idsync.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts_test.yml"
SCRAPING = DEPLOY / "prometheus" / "prometheus.yml"

METRIC = re.compile(r"\bidsync_[a-z0-9_]+")


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def alerts() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(ALERTS.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def dashboard_queries() -> Iterator[str]:
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            yield target["expr"]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            yield variable["definition"]


def metric_names_used() -> set[str]:
    """Every idsync_* series the dashboard's queries and the alerts' expressions name."""
    texts = [*dashboard_queries(), *(rule["expr"] for rule in alerts())]
    return {name for text in texts for name in METRIC.findall(text)}
