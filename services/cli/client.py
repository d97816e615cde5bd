"""The command line's side of NATS: services/common/client.py, shared with the portal."""

from __future__ import annotations

from services.common.client import Session, connect, open_connection

__all__ = ["Session", "connect", "open_connection"]
