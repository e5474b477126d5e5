"""Fixtures of the stream tests: real ``redis-server`` processes (tests/redis_server.py)."""

from __future__ import annotations

import pytest

from tests.redis_server import RedisServer


@pytest.fixture
def redis_server(tmp_path_factory):
    """``redis_server(appendonly=False, password=None)``: a started server, stopped after."""
    servers: list[RedisServer] = []

    def start(**options) -> RedisServer:
        servers.append(RedisServer(tmp_path_factory.mktemp("redis"), **options).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
