"""JetStream through a leaf node: the central servers' JetStream, reached by its domain.

A service connected to a site's leaf node (which has no JetStream of its own) asks the
central JetStream through `$JS.<domain>.API`. nats-py does so for API requests, but a
key-value bucket's writes go to their plain subjects (`$KV.<bucket>.<key>`), which the
servers do not carry across a leaf connection between domains: such a write finds no
stream ("no response from stream"). The servers take them under the domain's API prefix
(`$JS.<domain>.API.$KV.…`), as other NATS clients send them. (An object store's chunks,
`$O.…`, do cross as they are — and not under the prefix: checked against nats-server.)"""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import PubAck

BUCKET_WRITES = "$KV."


class LeafJetStream(JetStreamContext):
    """A JetStream context whose bucket writes reach another domain."""

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float | None = None,
        stream: str | None = None,
        headers: dict[str, Any] | None = None,
        msg_ttl: float | None = None,
    ) -> PubAck:
        if subject.startswith(BUCKET_WRITES):
            subject = f"{self._prefix}.{subject}"
        return await super().publish(subject, payload, timeout, stream, headers, msg_ttl)


def jetstream(nc: Client, domain: str | None) -> JetStreamContext:
    """The connection's JetStream: the local servers', or a domain's through a leaf."""
    if domain is None:
        return nc.jetstream()
    return LeafJetStream(nc, domain=domain)
