"""The WebSocket stream source against a real local server (no mocks): order, window, durable
store across a kill -9, reconnects and resume, faults (garbage, cut frames, gaps, schema)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from hub_kernel.data.stream import StreamSource, event_time_seconds, read_store
from hub_kernel.data.stream.quality import SeqState
from hub_kernel.data.stream.server import DemoStreamServer
from hub_kernel.exceptions import StreamError

REPO = Path(__file__).resolve().parents[4]
pytestmark = pytest.mark.timeout(60)


def wait_for(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def serve():
    servers: list[DemoStreamServer] = []

    def start(frame: pd.DataFrame | None = None, **options) -> DemoStreamServer:
        options.setdefault("rate", None)
        servers.append(DemoStreamServer(frame, **options).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def consume(tmp_path):
    sources: list[StreamSource] = []

    def start(url: str, name: str = "s", **options) -> StreamSource:
        options.setdefault("backoff_initial_seconds", 0.05)
        sources.append(StreamSource(url, name, store_dir=tmp_path, **options).start())
        return sources[-1]

    yield start
    for source in sources:
        source.close()


def seqs(frame: pd.DataFrame) -> list[int]:
    return frame["seq"].astype(int).tolist()


def test_rows_arrive_in_order_and_the_window_stays_bounded(serve, consume):
    server = serve(loop=False)  # one pass of the 1,461-row sample, as fast as it goes
    seen: list[int] = []
    source = consume(server.url, "ordered", window_rows=100, time_field="ts")
    source.on_rows(lambda rows: seen.extend(r["seq"] for r in rows))
    wait_for(lambda: source.last_seq == 1460, what="the whole sample")
    window = source.window()
    assert len(window) == 100
    assert seqs(window) == list(range(1361, 1461))
    stored = source.read_all()
    assert seqs(stored) == list(range(1461))
    assert seen == list(range(seen[0], 1461))  # subscribed after start: a tail, in order
    assert {"date", "temp_max", "weather", "ts"} <= set(stored.columns)
    quality = source.quality()
    assert (quality.rows_stored, quality.gap_count, quality.duplicates) == (1461, 0, 0)
    assert (quality.schema_violations, quality.garbage_frames) == (0, 0)
    assert quality.missing_fraction == 0.0
    assert quality.lag_basis == "event" and quality.lag_seconds >= 0
    assert quality.rate > 0


def test_a_message_may_carry_a_list_of_rows(serve, consume):
    server = serve(loop=False, count=100, batch=10)
    source = consume(server.url, "batched")
    wait_for(lambda: source.last_seq == 99)
    assert server.stats.messages == 10
    assert seqs(source.read_all()) == list(range(100))
    assert source.quality().garbage_frames == 0


CONSUMER = """
import sys, time
from hub_kernel.data.stream import StreamSource
source = StreamSource(sys.argv[1], "killed", store_dir=sys.argv[2], backoff_initial_seconds=0.05)
source.on_rows(lambda rows: print("ACK", rows[-1]["seq"], flush=True))
source.start()
time.sleep(60)
"""


def kill_consumer_after(url: str, store: Path, threshold: int) -> int:
    """Run a consumer process, kill -9 it once it reported ``threshold``; its last report."""
    acks: list[int] = []
    process = subprocess.Popen([sys.executable, "-c", CONSUMER, url, str(store)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("ACK"):
                acks.append(int(line.split()[1]))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: acks and acks[-1] >= threshold, timeout=20,
                 what=f"{threshold} acknowledged rows")
        process.send_signal(signal.SIGKILL)  # mid-stream, maybe mid-transaction
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(5)
    return max(acks)


def test_a_consumer_killed_with_sigkill_loses_no_row_and_stores_no_duplicate(serve, tmp_path):
    server = serve(rate=400, loop=False, count=1200)
    last_stored: list[int] = []
    for threshold in (200, 500):  # killed twice; the second run resumes from the first's store
        acknowledged = kill_consumer_after(server.url, tmp_path, threshold)
        before = seqs(read_store("killed", tmp_path))
        assert before == list(range(len(before)))  # contiguous from 0, no duplicate
        assert before[-1] >= acknowledged  # every row reported as received survived the kill
        assert before[-1] < 1199  # the kill came mid-stream
        last_stored.append(before[-1])
    assert server.stats.resumes[:2] == [None, last_stored[0] + 1]

    with StreamSource(server.url, "killed", store_dir=tmp_path, backoff_initial_seconds=0.05,
                      window_rows=50) as source:
        assert source.last_seq == before[-1]  # state reloaded from the store
        assert seqs(source.window()) == before[-50:]
        source.start()
        wait_for(lambda: source.last_seq == 1199, timeout=15, what="the rest of the stream")
        assert server.stats.resumes[-1] == before[-1] + 1  # asked to resume after its last row
        quality = source.quality()
        assert (quality.duplicates, quality.gap_count, quality.rows_stored) == (0, 0, 1200)
    assert seqs(read_store("killed", tmp_path)) == list(range(1200))


def test_rows_resent_after_a_reconnect_are_not_stored_twice(serve, consume):
    server = serve(loop=False, count=300)
    first = consume(server.url, "resent")
    wait_for(lambda: first.last_seq == 299)
    first.close()
    # this consumer does not ask to resume: the server starts again from 0
    again = consume(server.url, "resent", resume_param=None)
    wait_for(lambda: again.quality().duplicates == 300, what="300 duplicates")
    assert again.quality().rows_stored == 300
    assert seqs(again.read_all()) == list(range(300))


def test_dropped_connections_reconnect_and_resume_where_they_stopped(serve, consume):
    server = serve(loop=False, count=500, close_after=100)
    source = consume(server.url, "resumed")
    wait_for(lambda: source.last_seq == 499, what="all 500 rows over 5 connections")
    assert server.stats.resumes[:5] == [None, 100, 200, 300, 400]
    assert seqs(source.read_all()) == list(range(500))
    quality = source.quality()
    assert quality.reconnects >= 4 and quality.duplicates == 0
    assert "1011" in (quality.last_error or "") or "end of stream" in (quality.last_error or "")


def test_backoff_grows_with_jitter_up_to_the_cap_and_a_late_server_is_found(serve, consume):
    port = free_port()  # nobody listens here yet
    source = consume(f"ws://127.0.0.1:{port}/", "late", backoff_initial_seconds=0.05,
                     backoff_max_seconds=0.4)
    delays = [source._backoff(attempt) for attempt in range(12) for _ in range(20)]
    assert all(0.025 <= d <= 0.4 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # jittered
    assert max(source._backoff(20) for _ in range(50)) <= 0.4
    time.sleep(1.5)
    tries = source.quality().reconnects
    assert 3 <= tries <= 30  # backing off, not spinning
    assert not source.quality().connected and "Connect" in (source.quality().last_error or "")
    serve(port=port, loop=False, count=50)
    wait_for(lambda: source.last_seq == 49, what="rows from the server that came up late")


def test_garbage_frames_are_counted_and_the_stream_goes_on(serve, consume):
    server = serve(loop=False, count=200, garbage_every=10)
    source = consume(server.url, "garbage")
    wait_for(lambda: source.last_seq == 199)
    wait_for(lambda: source.quality().garbage_frames == 20, what="20 garbage frames")
    assert seqs(source.read_all()) == list(range(200))


def test_a_connection_cut_mid_frame_loses_nothing(serve, consume):
    server = serve(loop=False, count=200, close_after=50, abort_mid_frame=True)
    source = consume(server.url, "cut")
    wait_for(lambda: source.last_seq == 199, what="all rows across 4 cut connections")
    quality = source.quality()
    assert seqs(source.read_all()) == list(range(200))
    assert quality.garbage_frames == 0 and quality.duplicates == 0  # half a frame is no frame
    assert server.stats.resumes[:4] == [None, 50, 100, 150]


def test_skipped_sequence_numbers_are_recorded_as_gaps_and_reloaded(serve, consume, tmp_path):
    server = serve(loop=False, count=100, skip_every=10)
    source = consume(server.url, "gaps")
    wait_for(lambda: source.last_seq == 98)  # 99 is skipped too
    quality = source.quality()
    assert quality.gaps == tuple((s, s) for s in range(9, 99, 10))
    assert (quality.gap_count, quality.missing_seqs, quality.rows_stored) == (9, 9, 90)
    source.close()
    with StreamSource(server.url, "gaps", store_dir=tmp_path) as reopened:
        assert reopened.quality().gaps == quality.gaps


def test_late_rows_fill_gaps_and_known_rows_are_duplicates():
    state = SeqState()
    for seq in (5, 6, 10, 2):
        state.add(seq)
    assert (state.first, state.last, state.gaps) == (2, 10, [[3, 4], [7, 9]])
    assert state.stored(6) and not state.stored(8) and not state.stored(11)
    state.add(8)
    assert state.gaps == [[3, 4], [7, 7], [9, 9]]
    state.add(3)
    state.add(9)
    assert state.gaps == [[4, 4], [7, 7]]


def test_schema_violations_and_missing_values_are_counted(serve, consume):
    frame = pd.DataFrame({"v": [1.0, None, 3.0, None], "k": ["a", "b", "c", "d"]})
    server = serve(frame, loop=True, count=100, violate_every=25)
    source = consume(server.url, "schema")
    wait_for(lambda: source.last_seq == 99)
    quality = source.quality()
    assert quality.schema_violations == 4  # a text "v" and an extra key, every 25th row
    # half of "v" is null among seq, ts, v, k: 1/8 of cells (violating rows hold text in v)
    assert quality.missing_fraction == pytest.approx(48 / 400)


def test_quality_rate_and_lag_are_sane(serve, consume):
    server = serve(rate=50)
    timed = consume(server.url, "timed", time_field="ts")
    untimed = consume(server.url, "untimed")
    time.sleep(2.0)
    quality = timed.quality()
    assert 20 <= quality.rate <= 80
    assert quality.lag_basis == "event" and quality.lag_seconds >= 0
    assert quality.connected and quality.rows_stored >= 60
    assert untimed.quality().lag_basis == "receive"
    assert "rows/s" in quality.summary()


def test_event_times_in_seconds_milliseconds_and_iso_text():
    assert event_time_seconds(1_700_000_000) == 1_700_000_000
    assert event_time_seconds(1_700_000_000_500) == pytest.approx(1_700_000_000.5)
    assert event_time_seconds("2024-01-01T00:00:00Z") == 1_704_067_200
    assert event_time_seconds("2024-01-01T00:00:00") == 1_704_067_200
    assert event_time_seconds("soon") is None and event_time_seconds(True) is None


def test_misuse_raises_stream_errors_that_say_what_to_do(tmp_path, serve):
    server = serve()
    with pytest.raises(StreamError, match="no stream transport for http"):
        StreamSource("http://127.0.0.1:1/", "x", store_dir=tmp_path)
    with pytest.raises(StreamError, match="letters, digits"):
        StreamSource(server.url, "../escape", store_dir=tmp_path)
    with StreamSource(server.url, "taken", store_dir=tmp_path), \
            pytest.raises(StreamError, match="already being consumed"):
        StreamSource(server.url, "taken", store_dir=tmp_path)
    (tmp_path / "broken.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StreamError, match="stream store"):
        StreamSource(server.url, "broken", store_dir=tmp_path)
    with pytest.raises(StreamError, match="loopback"):
        DemoStreamServer(host="0.0.0.0")
    with pytest.raises(StreamError, match="no such stream store"):
        read_store("never", tmp_path)


def test_demo_server_command(tmp_path, consume):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hub_kernel.cli.stream", "demo-server", "--port", str(port),
         "--rate", "0", "--no-loop", "--count", "50"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "HUB_HOME": str(tmp_path / "home")})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"streaming on ws://127.0.0.1:{port}/")
        source = consume(f"ws://127.0.0.1:{port}/", "cli")
        wait_for(lambda: source.last_seq == 49)
    finally:
        process.terminate()
        process.wait(10)
