"""What a CSV connection or side must say that decoding cannot check (pure)."""

from __future__ import annotations

import codecs

from core.checks.facts import Problem
from core.words import got, show
from schemas.connections import Connection, CsvConnection
from schemas.jobs import Endpoint

WORKBOOKS = (".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xlsb")
"""Excel's file names: no delimited text, whatever their contents."""


def workbook_problem(file: str) -> str | None:
    """Why a CSV side cannot name `file` (None: it can)."""
    if not file.lower().endswith(WORKBOOKS):
        return None
    return (
        f"{file} is an Excel workbook, not delimited text: read and write it with a connection "
        'of provider = "excel" (its `file` and `sheet` name the workbook and the sheet)'
    )


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
    elif (why := workbook_problem(endpoint.file)) is not None:
        problems.append(("file", why))
    problems += dialect_problems(endpoint.delimiter, endpoint.quote_char, endpoint.encoding)
    if endpoint.query:
        problems.append(("query", "a CSV file has no query: every row is in scope"))
    return problems
