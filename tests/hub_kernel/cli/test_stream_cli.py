"""``hub stream consume`` and ``hub stream redis-demo``: a refused URL is one error line without
its password; the demo replays the sample into a real Redis stream that a source then stores."""

from __future__ import annotations

import time

from typer.testing import CliRunner

from hub_kernel.cli.stream import app


def test_a_bad_stream_url_is_one_error_line_without_its_password(hub_home):
    for url, problem in (("redis://:pa55-w0rd-x@127.0.0.1:1/a/b/c", "/STREAM or /DB/STREAM"),
                         ("http://:pa55-w0rd-x@127.0.0.1:1/s", "no stream transport"),
                         ("redis://:pa55-w0rd-x@127.0.0.1:1/s?grup=g", "'grup'")):
        result = CliRunner().invoke(app, ["consume", url], terminal_width=200)
        assert result.exit_code == 1, result.output
        assert problem in result.output and "error:" in result.output
        assert "pa55-w0rd-x" not in result.output and "***@127.0.0.1" in result.output


def test_redis_demo_replays_the_sample_into_a_stream_that_consume_stores(hub_home,
                                                                         tmp_path_factory):
    from hub_kernel.data.stream import StreamSource, read_store
    from tests.redis_server import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        url = server.url("demo")
        result = CliRunner().invoke(app, ["redis-demo", url, "--rate", "0", "--count", "1200"])
        assert result.exit_code == 0, result.output
        assert "added 1,200 entries" in result.output
        assert server.client().xlen("demo") == 1200
        with StreamSource(url, time_field="ts", store_dir=hub_home) as source:
            source.start()
            deadline = time.monotonic() + 20
            while source.quality().rows_stored < 1200:
                assert time.monotonic() < deadline, source.quality()
                time.sleep(0.05)
            quality = source.quality()
        frame = read_store("demo", hub_home)
        assert frame["seq"].tolist() == list(range(1200)) and "ts" in frame
        assert quality.gap_count == 0 and quality.lag_basis == "event"
        stopped = CliRunner().invoke(app, ["redis-demo", "redis://127.0.0.1:1/0/x", "--count",
                                           "1"])
        assert stopped.exit_code == 1 and "cannot add entries" in stopped.output
    finally:
        server.stop()


def test_the_stream_commands_explain_themselves():
    from hub_kernel.cli.root import app as hub

    for args in (["consume", "--help"], ["redis-demo", "--help"]):
        result = CliRunner().invoke(app, args, terminal_width=200)
        assert result.exit_code == 0 and "redis://" in result.output, result.output
    for command in ("serve", "demo"):  # --stream names the Redis form too
        result = CliRunner().invoke(hub, [command, "--help"], terminal_width=200)
        assert result.exit_code == 0 and "redis://" in result.output, result.output
