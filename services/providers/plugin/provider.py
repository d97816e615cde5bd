"""Providers of your own: `provider = "plugin"` names a callable in an installed module.

    [hr-api]
    provider = "plugin"
    factory = "acme_idsync.hr:HrProvider"
    options = { base_url = "https://hr.example.org" }

The callable gets (connection, endpoint, layout) and returns an object that follows
the provider protocol (services/providers/base.py). It runs on every runner: install
the module on each.
"""

from __future__ import annotations

import importlib
from typing import cast

from core.errors import BadInput
from schemas.connections import PluginConnection
from schemas.jobs import Endpoint

from ..base import Layout, Provider, ProviderFactory


def open_plugin(connection: PluginConnection, endpoint: Endpoint, layout: Layout) -> Provider:
    module_name, _, attribute = connection.factory.partition(":")
    where = f"connection {connection.id!r}: factory {connection.factory!r}"
    if not module_name or not attribute:
        raise BadInput(f'{where}: expected "package.module:callable"')
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise BadInput(
            f"{where}: cannot import {module_name} ({error}); install it on every runner"
        ) from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise BadInput(f"{where}: {module_name} has no callable {attribute!r}")
    return cast(ProviderFactory, factory)(connection, endpoint, layout)
