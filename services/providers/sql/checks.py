"""What a PostgreSQL or MySQL connection and a job's side on it must say that decoding
cannot check (pure); each provider's checks.py names its own TLS setting and words."""

from __future__ import annotations

from core.checks.facts import Problem
from core.errors import BadInput
from core.words import got, show
from schemas.connections import MysqlConnection, PostgresqlConnection
from schemas.jobs import Endpoint


def check_server(
    connection: PostgresqlConnection | MysqlConnection, tls_field: str, tls: str
) -> list[Problem]:
    """The port, the TLS mode a ca_file needs (`tls_field` = `tls`), the timeouts, the
    pool's size."""
    problems: list[Problem] = []
    if not 0 < connection.port < 65536:
        problems.append(("port", f"expected a port from 1 to 65535, got {connection.port}"))
    if connection.ca_file and tls not in ("verify-ca", "verify-full"):
        text = (
            f'expected {tls_field} = "verify-ca" or "verify-full" with a ca_file, got {show(tls)}'
        )
        problems.append((tls_field, text))
    for name in ("connect", "statement"):
        if (seconds := getattr(connection.timeouts, name)) <= 0:
            problems.append((f"timeouts.{name}", f"expected seconds above 0, got {seconds}"))
    if not 1 <= connection.pool_size <= 32:
        text = f"expected 1 to 32 connections, got {connection.pool_size}"
        problems.append(("pool_size", text))
    return problems


def check_table_or_query(
    endpoint: Endpoint, container: str, first_words: tuple[str, ...]
) -> list[Problem]:
    """A table ("table" or "<container>.table") or one read-only statement beginning with
    one of `first_words`, not both."""
    problems: list[Problem] = []
    if endpoint.table and endpoint.query:
        problems.append(("query", "expected a table or a query, not both"))
    elif not endpoint.table and not endpoint.query:
        text = f'expected a table name such as "people" or "hr.people", got {got(endpoint.table)}'
        problems.append(("table", text))
    if endpoint.table and endpoint.table.count(".") > 1:
        text = f'expected "table" or "{container}.table", got {show(endpoint.table)}'
        problems.append(("table", text))
    if endpoint.query is not None:
        words = endpoint.query.lstrip().split(None, 1)
        first = words[0].upper() if words else ""
        if first not in first_words:
            text = f"expected one read-only SELECT, got {show(endpoint.query)}"
            problems.append(("query", text))
        elif ";" in endpoint.query.rstrip().rstrip(";"):
            text = f"expected one statement (no `;` inside), got {show(endpoint.query)}"
            problems.append(("query", text))
    return problems


def need_table_or_query(tag: str, endpoint: Endpoint) -> None:
    """Opening a side that names neither a table nor a query: say what it needs."""
    if not endpoint.table and not endpoint.query:
        raise BadInput(
            f"{tag} (connection {endpoint.connection!r}): the endpoint needs `table:`, e.g. "
            "people or hr.people (or, to read, `query:` with a SELECT)"
        )
