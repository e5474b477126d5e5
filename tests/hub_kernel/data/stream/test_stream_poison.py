"""Poison frames against a real local websockets server: every bad frame or row is counted and
named, the good rows around it are stored, the stream goes on and a resume is not stuck; memory
stays within the byte bounds; gaps are counted in full with a bounded number of ranges in memory."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from hub_kernel.data.stream import StreamSource, read_store
from hub_kernel.data.stream.quality import MAX_SEQ, SeqState
from hub_kernel.data.stream.server import DemoStreamServer
from hub_kernel.exceptions import StreamError

pytestmark = pytest.mark.timeout(60)

Frame = str | bytes
Script = Callable[[int | None], list[Frame]]


def wait_for(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def row(seq: object, **fields: object) -> str:
    return json.dumps({"seq": seq, "v": 1.5, **fields})


class ScriptedServer:
    """A real ``websockets`` server: each connection gets ``script(from)`` (``from``: the resume
    point the client asked for), then the connection is held open (``hold``) or closed."""

    def __init__(self, script: Script, *, hold: bool = True) -> None:
        self.script = script
        self.hold = hold
        self.resumes: list[int | None] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def _handle(self, ws) -> None:
        values = parse_qs(urlsplit(ws.request.path).query).get("from")
        start = int(values[0]) if values else None
        self.resumes.append(start)
        for frame in self.script(start):
            await ws.send(frame)
        if self.hold:
            await ws.wait_closed()
        else:
            await ws.close(1000, "end of script")

    def start(self) -> ScriptedServer:
        from websockets.asyncio.server import serve

        ready = threading.Event()

        async def main() -> None:
            self._stop = asyncio.Event()
            async with serve(self._handle, "127.0.0.1", 0, max_size=None,
                             compression=None) as server:
                self.port = server.sockets[0].getsockname()[1]
                ready.set()
                await self._stop.wait()
                server.close(close_connections=True)

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(main())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(5)


@pytest.fixture
def scripted():
    servers: list[ScriptedServer] = []

    def start(script: Script | list[Frame], **options) -> ScriptedServer:
        frames = script
        servers.append(ScriptedServer(
            script if callable(script) else (lambda _start: list(frames)), **options).start())
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


def stored_seqs(source: StreamSource) -> list[int]:
    return source.read_all()["seq"].astype(int).tolist()


def test_sequence_numbers_out_of_range_or_not_integers_are_garbage(scripted, consume):
    poison = [row(2**64), row(-1), row(2**63), row(2.0), row("3"), row(True)]
    server = scripted([row(0), row(1), *poison, row(2), row(3)])
    source = consume(server.url, "seqs")
    wait_for(lambda: source.last_seq == 3, what="the rows after the poison")
    assert stored_seqs(source) == [0, 1, 2, 3]  # every good row, before and after, stored
    quality = source.quality()
    assert (quality.garbage_frames, quality.rejected_rows) == (6, 6)
    assert source.running and quality.connected  # the consumer thread lives on
    # the last problem is named, with the stream: a bool is not a sequence number
    assert quality.last_error == quality.last_rejected
    assert "'seqs'" in quality.last_error and "garbage frame #6" in quality.last_error
    assert "sequence number 'seq' is boolean True, not an integer" in quality.last_error


@pytest.mark.parametrize(("value", "message"), [
    (2**64, f"'seq' = 18446744073709551616 is outside 0..{MAX_SEQ}"),
    (-1, f"'seq' = -1 is outside 0..{MAX_SEQ}"),
    (7.0, "'seq' is number 7.0, not an integer"),
    ("7", "'seq' is string '7', not an integer"),
    (10**400, "a 1329-bit integer is outside"),
])
def test_each_bad_sequence_number_is_named(scripted, consume, value, message):
    server = scripted([row(0), row(value), row(1)])
    source = consume(server.url, "named")
    wait_for(lambda: source.last_seq == 1)
    wait_for(lambda: source.quality().garbage_frames == 1)
    assert message in (source.quality().last_error or "")
    assert stored_seqs(source) == [0, 1]


def test_a_binary_utf16_frame_is_garbage_and_utf8_binary_frames_are_rows(scripted, consume):
    # UTF-16 without a BOM decodes as UTF-8 (ASCII and NULs) and fails as JSON; with a BOM it
    # is not UTF-8 at all. Either way: garbage, counted, and the rows around it are stored.
    server = scripted([row(0), row(1).encode("utf-16-le"), row(2).encode("utf-16"),
                       row(3).encode(), row(4)])
    source = consume(server.url, "utf16")
    wait_for(lambda: source.last_seq == 4)
    wait_for(lambda: source.quality().garbage_frames == 2)
    assert stored_seqs(source) == [0, 3, 4]
    quality = source.quality()
    assert quality.rejected_rows == 0 and source.running
    assert quality.last_error == (
        "stream 'utf16': garbage frame #2 ignored: a binary frame is not UTF-8 (invalid start "
        "byte at byte 0); JSON over WebSocket must be UTF-8 (RFC 8259)")


def test_json_that_is_not_an_object_is_garbage_and_lists_keep_their_good_rows(scripted, consume):
    frames = ["42", "null", '"text"', "[]", "[1, 2]", f"[{row(1)}, 5, {row(2)}]", "{bad json",
              "[" * 100_000 + "]" * 100_000, row(3)]
    server = scripted([row(0), *frames])
    source = consume(server.url, "objects")
    wait_for(lambda: source.last_seq == 3)
    assert stored_seqs(source) == [0, 1, 2, 3]
    quality = source.quality()
    # 42, null, "text", [1, 2], the mixed list, the bad JSON, the deep nesting; [] is no rows
    assert quality.garbage_frames == 7
    assert quality.rejected_rows == 3  # 1 and 2 of [1, 2], and the 5 of the mixed list
    assert "garbage frame #7" in (quality.last_error or "")
    assert "RecursionError" in quality.last_error or "not JSON" in quality.last_error


def test_a_batch_with_one_poisoned_row_stores_its_good_rows(scripted, consume):
    batch = [json.loads(row(s)) for s in range(10)]
    batch[4]["seq"] = 2**64  # the row the server numbered 4
    server = scripted([json.dumps(batch), row(10)])
    source = consume(server.url, "batch")
    wait_for(lambda: source.last_seq == 10)
    assert stored_seqs(source) == [0, 1, 2, 3, 5, 6, 7, 8, 9, 10]
    quality = source.quality()
    assert (quality.garbage_frames, quality.rejected_rows) == (1, 1)
    assert "row 5 of 10: sequence number 'seq' = 18446744073709551616" in quality.last_error
    assert (quality.gap_count, quality.missing_seqs, quality.gaps) == (1, 1, ((4, 4),))


def test_after_poison_the_stream_goes_on_and_resume_is_not_stuck(scripted, consume, tmp_path):
    def script(start: int | None) -> list[Frame]:
        """Rows from ``start`` to 29; 10 is poisoned (``seq`` 2**64); the first connection
        closes right after the poison, the others after 19 and at the end."""
        seq, frames = start or 0, []
        while seq < 30:
            frames.append(row(2**64) if seq == 10 else row(seq))
            seq += 1
            if (start is None and seq == 11) or seq == 20:
                break
        return frames

    server = scripted(script, hold=False)
    source = consume(server.url, "resume")
    wait_for(lambda: source.last_seq == 19, what="rows past the poison")
    assert server.resumes[:2] == [None, 10]  # resumed after the last good row, got 10 again
    assert stored_seqs(source) == [*range(10), *range(11, 20)]
    source.close()
    # a restart resumes after what is stored (20), not at the poisoned row
    again = consume(server.url, "resume")
    wait_for(lambda: again.last_seq == 29, what="the rest after a restart")
    assert server.resumes[-1] == 20
    quality = again.quality()
    assert quality.garbage_frames == 2  # the poison, sent twice, counted twice (stored counters)
    assert stored_seqs(again) == [*range(10), *range(11, 30)]
    assert (quality.gap_count, quality.gaps) == (1, ((10, 10),))


def test_a_frame_over_the_size_cap_is_skipped_when_resent_at_the_same_point(scripted, consume):
    def script(start: int | None) -> list[Frame]:
        return [row(s, pad="x" * 100_000 if s == 10 else "") for s in range(start or 0, 30)]

    server = scripted(script, hold=True)
    source = consume(server.url, "oversized", max_message_bytes=65_536)
    wait_for(lambda: source.last_seq == 29, what="rows past the oversized frame")
    assert server.resumes[:3] == [None, 10, 11]  # closed (1009) twice at 10, then past it
    assert stored_seqs(source) == [*range(10), *range(11, 30)]
    quality = source.quality()
    assert quality.garbage_frames == 2 and quality.gaps == ((10, 10),)
    assert "larger than max_message_bytes (65,536 bytes) came twice at sequence number 10" in (
        quality.last_rejected or "")


def test_a_flood_of_huge_frames_stays_within_the_byte_bounds(scripted, consume):
    mib = 2**20
    padding = "x" * (mib - 100)
    server = scripted(lambda _start: [row(s, pad=padding) for s in range(40)])
    source = consume(server.url, "flood", max_message_bytes=2 * mib, buffer_bytes=4 * mib,
                     window_bytes=3 * mib, window_rows=1000)
    source.on_rows(lambda rows: time.sleep(0.05))  # a slow consumer: frames pile up
    peaks: list[tuple[int, int]] = []

    def sample() -> bool:
        quality = source.quality()
        peaks.append((quality.buffer_bytes, quality.window_bytes))
        return source.last_seq == 39

    wait_for(sample, timeout=30, what="40 frames of 1 MiB")
    quality = source.quality()
    assert quality.rows_stored == 40  # nothing lost to the bounds
    assert quality.buffer_max_bytes == 4 * mib and quality.window_max_bytes == 3 * mib
    # frames of ~1 MiB were held, never more than the bound (the rest waited in websockets' own
    # queue, capped at buffer_bytes // max_message_bytes frames, and in TCP buffers)
    assert mib * 0.99 <= quality.buffer_peak_bytes <= 4 * mib
    assert all(held <= 4 * mib and window <= 3 * mib for held, window in peaks)
    assert quality.window_rows == 3 and quality.window_bytes <= 3 * mib  # not 1000 rows
    assert [r["seq"] for r in source.window_records()] == [37, 38, 39]


def test_the_buffer_holds_frames_up_to_its_byte_bound_then_the_reader_waits():
    from hub_kernel.data.stream.frames import PendingFrames

    async def flood() -> tuple[int, int, int]:
        pending = PendingFrames(max_frames=10_000, max_bytes=4 * 2**20)
        frame = "z" * 2**20
        for _ in range(3):
            await pending.put(frame)
        with pytest.raises(TimeoutError):  # a 4th frame would pass 4 MiB: the reader waits
            await asyncio.wait_for(pending.put(frame), 0.2)
        held = pending.bytes
        batch = await pending.take(10)
        blocked = asyncio.create_task(pending.put(frame))
        await asyncio.sleep(0.05)
        assert not blocked.done()  # taken is not stored: still held
        await pending.release(batch)
        await asyncio.wait_for(blocked, 1)
        huge = PendingFrames(max_frames=10, max_bytes=2**20)
        await huge.put("h" * 2**21)  # one frame larger than the bound passes, alone
        return held, pending.bytes, pending.peak

    held, after, peak = asyncio.run(flood())
    assert 3 * 2**20 < held == peak <= 4 * 2**20
    assert 2**20 < after < 2 * 2**20


def test_the_buffer_must_hold_one_frame(tmp_path):
    with pytest.raises(StreamError, match=r"buffer_bytes .* must hold at least one frame"):
        StreamSource("ws://127.0.0.1:1/", "small", store_dir=tmp_path, buffer_bytes=2**16,
                     max_message_bytes=2**20)


def test_a_window_reloaded_from_the_store_keeps_its_byte_bound(scripted, consume, tmp_path):
    padding = "y" * 100_000
    server = scripted([row(s, pad=padding) for s in range(30)])
    first = consume(server.url, "reload")
    wait_for(lambda: first.last_seq == 29)
    first.close()
    with StreamSource(server.url, "reload", store_dir=tmp_path, window_bytes=250_000) as again:
        quality = again.quality()
        assert quality.window_rows == 2 and quality.window_bytes <= 250_000
        assert [r["seq"] for r in again.window_records()] == [28, 29]
        assert quality.rows_stored == 30


def test_a_server_skipping_every_other_number_keeps_bounded_gap_ranges(tmp_path):
    server = DemoStreamServer(rate=None, loop=False, count=4000, skip_every=2).start()
    try:
        source = StreamSource(server.url, "sparse", store_dir=tmp_path, max_gap_ranges=50,
                              backoff_initial_seconds=0.05).start()
        try:
            wait_for(lambda: source.last_seq == 3998, what="every even number to 3998")
            quality = source.quality()
            # 1, 3, ..., 3997 missing (3999 is never followed by a row)
            assert (quality.gap_count, quality.missing_seqs, quality.rows_stored) == (
                1999, 1999, 2000)
            assert quality.gaps == tuple((s, s) for s in range(3959, 3998, 2))
            assert len(source._seqs.gaps) == 50  # O(max_gap_ranges) in memory, not O(rows)
        finally:
            source.close()
        # a source that does not resume gets everything again: older gaps are looked up in the
        # store, so every resent row is a duplicate, none is stored twice
        again = StreamSource(server.url, "sparse", store_dir=tmp_path, max_gap_ranges=50,
                             resume_param=None, backoff_initial_seconds=0.05)
        assert (again.quality().gap_count, again.quality().missing_seqs) == (1999, 1999)
        assert len(again._seqs.gaps) == 50
        with again.start():
            wait_for(lambda: again.quality().duplicates >= 2000, what="2000 duplicates")
            quality = again.quality()
            assert (quality.rows_stored, quality.gap_count, quality.missing_seqs) == (
                2000, 1999, 1999)
        assert read_store("sparse", tmp_path)["seq"].is_unique
    finally:
        server.stop()


def test_late_rows_below_the_kept_gaps_are_counted_through_the_store():
    stored: set[int] = set()
    state = SeqState(max_gaps=3)

    def add(seq: int) -> None:
        assert not state.stored(seq, stored.__contains__)
        stored.add(seq)
        state.add(seq, stored.__contains__)

    for seq in range(0, 40, 2):  # gaps 1, 3, ..., 37
        add(seq)
    assert (state.gap_count, state.missing, len(state.gaps)) == (19, 19, 3)
    assert state.floor == 32 and state.stored(2, stored.__contains__)
    add(5)  # closes the gap [5, 5] below the floor
    assert (state.gap_count, state.missing) == (18, 18)
    add(-3)  # a new first number: gap [-2, -1]
    assert (state.gap_count, state.missing, state.first) == (19, 20, -3)
    add(-1)  # splits nothing, shrinks [-2, -1] to [-2, -2]
    assert (state.gap_count, state.missing) == (19, 19)
    add(35)  # a kept gap
    assert (state.gap_count, state.missing, state.gaps) == (18, 18, [[33, 33], [37, 37]])


def test_a_late_row_inside_a_wide_gap_below_the_floor_splits_it():
    stored = {0, 10, 20, 30, 40}
    state = SeqState(max_gaps=1)
    for seq in sorted(stored):
        state.add(seq, stored.__contains__)
    assert (state.gap_count, state.missing, state.gaps, state.floor) == (4, 36, [[31, 39]], 30)
    for seq, expected in ((5, (5, 35)), (4, (5, 34)), (9, (5, 33)), (6, (5, 32))):
        stored.add(seq)
        state.add(seq, stored.__contains__)
        assert (state.gap_count, state.missing) == expected, seq
    for seq in (7, 8):  # [7, 8] closes: 4 gaps left
        stored.add(seq)
        state.add(seq, stored.__contains__)
    assert (state.gap_count, state.missing) == (4, 30)


def test_stream_names_are_matched_whole(tmp_path):
    for name in ("name\n", "a/b", ".hidden", "x" * 129, ""):
        with pytest.raises(StreamError, match="letters, digits"):
            StreamSource("ws://127.0.0.1:1/", name, store_dir=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing created for a refused name
