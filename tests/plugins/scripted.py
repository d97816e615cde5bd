"""A script and hooks of the tests' own, as an administrator would install them."""

from __future__ import annotations

import json
import os
from typing import Any

from core.engine.context import MappingContext
from core.engine.scripts import Skip
from schemas.plan import Change, RunStats
from schemas.values import Record, Value


def login(value: Value | None, record: Record, context: MappingContext) -> Value | Skip | None:
    """first.last in lower case; people of Legal are left out of the run."""
    if record.get("department") == "Legal":
        return Skip("Legal is synchronized by hand")
    return f"{record['first_name']}.{record['last_name']}".lower().replace(" ", "")


class Audit:
    """Writes every hook call, in order, to the file IDSYNC_TEST_HOOKS_LOG names; refuses
    to create the record IDSYNC_TEST_HOOKS_REFUSE names; with IDSYNC_TEST_HOOKS_ALTER set,
    changes the department and the groups of every create it sees."""

    def _log(self, *entry: object) -> None:
        with open(os.environ["IDSYNC_TEST_HOOKS_LOG"], "a") as out:
            out.write(json.dumps([str(part) for part in entry]) + "\n")

    def startup(self, context: Any) -> None:
        context.data["seen"] = 0
        self._log("startup", context.run_id)

    def before_create(self, change: Change, context: Any) -> None:
        if change.key == os.environ.get("IDSYNC_TEST_HOOKS_REFUSE"):
            raise ValueError("not on a Friday")
        self._log("before_create", change.key)
        if os.environ.get("IDSYNC_TEST_HOOKS_ALTER"):
            change.set["department"] = "Altered"
            groups = change.set.get("groups")
            if isinstance(groups, list):
                groups.append("altered")

    def after_create(self, change: Change, context: Any) -> None:
        self._log("after_create", change.key)

    def failed(self, change: Change, error: str, context: Any) -> None:
        self._log("failed", change.key, error)

    def shutdown(self, stats: RunStats, context: Any) -> None:
        self._log("shutdown", stats.created)


def broken(value: Value | None, record: Record, context: MappingContext) -> Value | None:
    raise KeyError("manager_id")


def numeric(value: Value | None, record: Record, context: MappingContext) -> object:
    return 42


def numbers(value: Value | None, record: Record, context: MappingContext) -> object:
    return ["a", 42]
