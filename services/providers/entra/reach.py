"""Can an Entra connection be used: does the app sign in (a bad secret says so now, not
in the middle of a run), and may it read users?"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

from core.errors import BadInput
from schemas.connections import EntraConnection

from .errors import why
from .graph import Graph, url


async def reach(connection: EntraConnection, writers: Sequence[str]) -> str:
    graph = Graph(connection)
    try:
        await graph.open()
        answer = await graph.send("GET", url("/users", **{"$select": "id", "$top": "1"}))
        if not answer.ok:
            raise BadInput(
                f"entra connection {connection.id!r}: reading users: "
                f"{why(answer, 'user', writing=False)}"
            )
        roles = _roles(graph)
    finally:
        await graph.close()
    granted = f"; application permissions: {', '.join(roles)}" if roles else ""
    return (
        f"{connection.graph} answered; signed in as app {connection.client_id} in tenant "
        f"{connection.tenant}; users can be read{granted}"
    )


def _roles(graph: Graph) -> list[str]:
    """The `roles` claim of the app's token, when it is a JWT (it says what was granted)."""
    token = graph.token_value()
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return []
    roles = claims.get("roles") if isinstance(claims, dict) else None
    return sorted(str(r) for r in roles) if isinstance(roles, list) else []
