"""Finding objects by their key: which live object (or deleted one, for a create that
may restore it) a change is about, and the users that members and managers name.

Many keys per request — `$filter=employeeId in ('E1','E2',…)`, 15 values at most (Graph's
known issues) — and 20 such requests per $batch."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import Answer, why
from .graph import Call, Graph, Program, Step, listing, not_a_page, url
from .values import COLLECTION, quoted

IN_VALUES = 15
ANDS = 5  # keys of several fields per request: (a eq … and b eq …) or …
Key = tuple[str, ...]


def fold(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip().casefold()


def key_of(obj: dict[str, Any], names: Iterable[str]) -> Key | None:
    """A key as compared here: NFC, trimmed, case ignored (Graph's eq ignores case)."""
    lower = {k.lower(): v for k, v in obj.items()}
    out: list[str] = []
    for name in names:
        value = lower.get(name.lower())
        if not isinstance(value, str | int) or not str(value).strip():
            return None
        out.append(fold(str(value)))
    return tuple(out)


@dataclass
class Found:
    id: str
    obj: dict[str, Any]


def unmangled(obj: dict[str, Any]) -> dict[str, Any]:
    """A deleted user as it was: Entra prefixes its userPrincipalName with its id."""
    upn, prefix = obj.get("userPrincipalName"), str(obj.get("id", "")).replace("-", "")
    if isinstance(upn, str) and prefix and upn.startswith(prefix):
        return {**obj, "userPrincipalName": upn[len(prefix) :]}
    return obj


def key_filter(names: tuple[str, ...], keys: list[Key]) -> str:
    """The $filter finding the objects with these keys."""
    if len(names) == 1:
        return f"{names[0]} in ({', '.join(quoted(k[0]) for k in keys)})"
    parts = [
        " and ".join(f"{n} eq {quoted(v)}" for n, v in zip(names, k, strict=True)) for k in keys
    ]
    return " or ".join(f"({p})" for p in parts)


class Lookup:
    def __init__(self, graph: Graph, kind: str) -> None:
        self.graph, self.kind = graph, kind

    async def live(
        self, names: tuple[str, ...], keys: Iterable[Key], extra: Iterable[str] = ()
    ) -> tuple[dict[Key, list[Found]], str | None]:
        """The live objects with these keys (raw values, as the changes hold them), and
        why the lookup failed, if it did."""
        wanted = list(dict.fromkeys(keys))
        size = IN_VALUES if len(names) == 1 else ANDS
        select = ",".join(dict.fromkeys(["id", *names, *extra]))
        found: dict[Key, list[Found]] = {}
        failures: list[str] = []
        programs: list[Program] = []
        for start in range(0, len(wanted), size):
            chunk = wanted[start : start + size]
            path = url(
                f"/{COLLECTION[self.kind]}",
                **{"$filter": key_filter(names, chunk), "$select": select, "$top": "999"},
            )
            programs.append(self._collect(path, names, found, failures))
        await self.graph.execute(programs)
        return found, failures[0] if failures else None

    async def deleted(self, names: tuple[str, ...]) -> tuple[dict[Key, list[Found]], str | None]:
        """Every deleted object of this kind (deleted items are kept 30 days: few)."""
        found: dict[Key, list[Found]] = {}
        failures: list[str] = []
        select = ",".join(dict.fromkeys(["id", *names]))
        path = url(
            f"/directory/deletedItems/microsoft.graph.{self.kind}",
            **{"$select": select, "$top": "999"},
        )
        await self.graph.execute([self._collect(path, names, found, failures, restore=True)])
        return found, failures[0] if failures else None

    def _collect(
        self,
        path: str,
        names: tuple[str, ...],
        into: dict[Key, list[Found]],
        failures: list[str],
        *,
        restore: bool = False,
    ) -> Program:
        link: str | None = path
        while link is not None:
            answers: list[Answer] = yield Step([Call("GET", link)])
            answer = answers[0]
            if not answer.ok:
                failures.append(f"looking {self.kind}s up: {why(answer, self.kind, writing=False)}")
                return None
            body = listing(answer)
            if body is None:
                failures.append(f"looking {self.kind}s up: {not_a_page(answer)}")
                return None
            for obj in body["value"]:
                shown = unmangled(obj) if restore else obj
                key = key_of(shown, names)
                if key is not None:
                    into.setdefault(key, []).append(Found(str(obj["id"]), obj))
            next_link = body.get("@odata.nextLink")
            link = self.graph.relative(str(next_link)) if next_link else None
        return None
