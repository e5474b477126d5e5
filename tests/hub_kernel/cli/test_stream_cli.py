"""``hub stream consume``: a refused URL is one error line, without the URL's password (the
command consuming a real Redis stream is run in tests/hub_kernel/data/stream)."""

from __future__ import annotations

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
