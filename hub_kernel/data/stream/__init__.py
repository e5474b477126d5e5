"""Live streams: a WebSocket or Redis Streams source with a durable store, a rolling window and
quality figures.

Modules: ``source`` (``StreamSource`` and ``TRANSPORTS``, the transports by URL scheme),
``follower`` (``shared_stream``: one consumer per store, other users follow the store and take
over when the consumer goes),
``transports`` (what a transport is), ``client`` (the reconnect loop and the WebSocket
transport: resume, read), ``redis_client`` (the Redis Streams transport: consumer group,
acknowledge once stored, exactly once by entry id), ``frames`` (the bounded buffer of frames
read, their decoding and checks), ``store`` (the SQLite store of a stream's rows), ``quality``
(sequence gaps, counters, schema checks, ``StreamQuality``) and ``server``
(``DemoStreamServer``, a local server replaying a table, for demos, tests and benchmarks).
"""

from __future__ import annotations

from hub_kernel.data.stream.follower import StreamFollower, shared_stream
from hub_kernel.data.stream.quality import Row, StreamQuality, event_time_seconds
from hub_kernel.data.stream.source import RowsCallback, StreamSource
from hub_kernel.data.stream.store import StreamStore, read_store, scratch_store_dir, store_path

__all__ = [
    "Row",
    "RowsCallback",
    "StreamFollower",
    "StreamQuality",
    "StreamSource",
    "StreamStore",
    "event_time_seconds",
    "read_store",
    "scratch_store_dir",
    "shared_stream",
    "store_path",
]
