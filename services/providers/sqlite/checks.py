"""What a job's side on a SQLite table must say that decoding cannot check (pure)."""

from __future__ import annotations

from core.checks.facts import Problem
from core.words import got, show
from schemas.jobs import Endpoint


def check_endpoint(endpoint: Endpoint) -> list[Problem]:
    problems: list[Problem] = []
    if not endpoint.table:
        text = f'expected a table name such as "people", got {got(endpoint.table)}'
        problems.append(("table", text))
    if endpoint.query and ";" in endpoint.query:
        text = f"expected one condition (a WHERE clause without `;`), got {show(endpoint.query)}"
        problems.append(("query", text))
    return problems
