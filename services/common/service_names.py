"""The services' names: what `idsync serve` accepts and whom `access.py` gives a user.

Apart so that the command line can list them without loading NATS."""

from __future__ import annotations

SERVICES = ("scheduler", "workflow", "runner", "notifier", "recorder")
"""The services, each of which connects as its own user."""
ENDPOINTS = ("scim_endpoint", "portal")
"""Services that listen over HTTP — other systems (the SCIM endpoint), people (the
portal): `idsync serve` runs them by name, and `idsync up` when they are configured
(IDSYNC_SCIM_PORT, IDSYNC_PORTAL_PORT)."""
