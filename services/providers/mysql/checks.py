"""What a MySQL connection and a job's side on it must say that decoding cannot check
(pure): the checks all SQL providers make (sql/checks.py), with `tls`."""

from __future__ import annotations

from core.checks.facts import Problem
from schemas.connections import Connection, MysqlConnection
from schemas.jobs import Endpoint

from ..sql.checks import check_server, check_table_or_query


def check_connection(connection: Connection) -> list[Problem]:
    if not isinstance(connection, MysqlConnection):
        return []
    return check_server(connection, "tls", connection.tls)


def check_endpoint(endpoint: Endpoint) -> list[Problem]:
    return check_table_or_query(endpoint, "database", ("SELECT", "WITH", "TABLE", "VALUES", "("))
