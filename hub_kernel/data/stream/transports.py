"""Stream transports by URL scheme: how a ``StreamSource`` reaches its messages.

``ws``/``wss``: the WebSocket client (``client``); ``redis``/``rediss``: Redis Streams read with a
consumer group (``redis_client``). A transport is made by a factory ``(source, options) ->
Transport`` that checks the source's URL and its ``options`` (``group``, ``consumer``, ``start``:
whatever the transport takes; an option it does not take is an error); its ``session(stop)``
holds one connection, hands batches of messages to ``source._ingest`` and returns the rows
stored, and the source's reconnect loop (``client.StreamClient.run``) calls it again after a
back-off. The registry of transports by scheme is ``source.TRANSPORTS``: more register there
(``TRANSPORTS.register(factory, "scheme")``) or through the ``hub.stream_transports``
entry-point group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol


class Transport(Protocol):
    """One way of reaching a stream's messages."""

    def session(self, stop: asyncio.Event) -> Any:
        """A coroutine: one connection, consumed until it ends or ``stop`` is set; rows stored."""
        ...

    def default_name(self) -> str | None:
        """A store name when the user gives none (``None``: a name is required)."""
        ...


#: ``(source, options) -> Transport``; ``source`` is the ``StreamSource`` being made
TransportFactory = Callable[[Any, dict[str, Any]], Transport]
