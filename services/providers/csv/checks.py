"""What a CSV connection or side must say that decoding cannot check (pure)."""

from __future__ import annotations

import codecs

from core.checks.facts import Problem
from core.words import got, show
from schemas.connections import Connection, CsvConnection
from schemas.jobs import Endpoint


def dialect_problems(
    delimiter: str | None, quote: str | None, encoding: str | None
) -> list[Problem]:
    """A delimiter and a quote of one character each, an encoding Python knows."""
    problems = [
        (field, f'expected exactly one character such as ";", got {show(value)}')
        for field, value in (("delimiter", delimiter), ("quote_char", quote))
        if value is not None and len(value) != 1
    ]
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            problems.append(
                ("encoding", f'expected an encoding such as "latin-1", got {show(encoding)}')
            )
    return problems


def check_connection(connection: Connection) -> list[Problem]:
    if not isinstance(connection, CsvConnection):
        return []
    return dialect_problems(connection.delimiter, connection.quote_char, connection.encoding)


def check_endpoint(endpoint: Endpoint) -> list[Problem]:
    problems: list[Problem] = []
    if not endpoint.file:
        text = f'expected a file name such as "people.csv", got {got(endpoint.file)}'
        problems.append(("file", text))
    problems += dialect_problems(endpoint.delimiter, endpoint.quote_char, endpoint.encoding)
    if endpoint.query:
        problems.append(("query", "a CSV file has no query: every row is in scope"))
    return problems
