"""What a PostgreSQL connection and a job's side on it must say that decoding cannot
check (pure)."""

from __future__ import annotations

from core.checks.facts import Problem
from core.words import got, show
from schemas.connections import Connection, PostgresqlConnection
from schemas.jobs import Endpoint


def check_connection(connection: Connection) -> list[Problem]:
    if not isinstance(connection, PostgresqlConnection):
        return []
    problems: list[Problem] = []
    if not 0 < connection.port < 65536:
        problems.append(("port", f"expected a port from 1 to 65535, got {connection.port}"))
    if connection.ca_file and connection.sslmode not in ("verify-ca", "verify-full"):
        mode = show(connection.sslmode)
        text = f'expected sslmode = "verify-ca" or "verify-full" with a ca_file, got {mode}'
        problems.append(("sslmode", text))
    for name in ("connect", "statement"):
        if (seconds := getattr(connection.timeouts, name)) <= 0:
            problems.append((f"timeouts.{name}", f"expected seconds above 0, got {seconds}"))
    return problems


def check_endpoint(endpoint: Endpoint) -> list[Problem]:
    problems: list[Problem] = []
    if endpoint.table and endpoint.query:
        text = "expected a table or a query, not both"
        problems.append(("query", text))
    elif not endpoint.table and not endpoint.query:
        text = f'expected a table name such as "people" or "hr.people", got {got(endpoint.table)}'
        problems.append(("table", text))
    if endpoint.table and endpoint.table.count(".") > 1:
        text = f'expected "table" or "schema.table", got {show(endpoint.table)}'
        problems.append(("table", text))
    if endpoint.query is not None:
        words = endpoint.query.lstrip().split(None, 1)
        first = words[0].upper() if words else ""
        if first not in ("SELECT", "WITH", "TABLE", "VALUES"):
            text = f"expected one read-only SELECT, got {show(endpoint.query)}"
            problems.append(("query", text))
        elif ";" in endpoint.query.rstrip().rstrip(";"):
            text = f"expected one statement (no `;` inside), got {show(endpoint.query)}"
            problems.append(("query", text))
    return problems
