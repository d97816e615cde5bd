"""Can a plugin connection be reached here: is the module its factory names installed?"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from core.errors import Unreachable
from schemas.connections import PluginConnection


async def reach(connection: PluginConnection, writers: Sequence[str]) -> str:
    factory = connection.factory
    module = factory.partition(":")[0]
    if importlib.util.find_spec(module) is None:
        raise Unreachable(f"{connection.id}: module {module} is not installed here")
    return f"plugin {factory} is installed here (install it on every runner too)"
