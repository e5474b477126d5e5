"""Redis Streams as a live source, against a real ``redis-server`` (no mocks): consumer group,
acknowledge after store, exactly once across re-delivery, garbage entries, a restarted server,
credentials never shown."""

from __future__ import annotations

import json
import logging
import sys
import time

import pytest

from hub_kernel.data.stream import StreamSource, read_store
from hub_kernel.exceptions import StreamError

pytestmark = pytest.mark.timeout(90)


def wait_for(predicate, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def consume(tmp_path):
    sources: list[StreamSource] = []

    def start(url: str, name: str | None = None, **options) -> StreamSource:
        options.setdefault("backoff_initial_seconds", 0.05)
        options.setdefault("backoff_max_seconds", 0.5)
        sources.append(StreamSource(url, name, store_dir=tmp_path, **options).start())
        return sources[-1]

    yield start
    for source in sources:
        source.close()


def pending(client, key: str, group: str) -> int:
    return client.xpending(key, group)["pending"]


def test_entries_become_rows_in_order_acknowledged_once_stored(redis_server, consume):
    server = redis_server()
    r = server.client()
    for n in range(200):  # half a JSON row, half flat fields
        if n % 2:
            r.xadd("events", {"json": json.dumps({"n": n, "v": n / 2, "tag": f"t{n % 3}"})})
        else:
            r.xadd("events", {"n": str(n), "v": str(n / 2), "tag": f"t{n % 3}"})
    r.xadd("events", {"n": "200", "v": "007", "tag": "true"})  # text "007", the boolean true
    source = consume(server.url("events", group="dash"), window_rows=50)
    assert source.name == "events"  # the store is named after the stream key
    wait_for(lambda: source.quality().rows_stored == 201, what="201 rows")
    frame = read_store("events", source.store_path.parent)
    assert frame["n"].tolist() == list(range(201))  # in the stream's order
    assert frame["v"].tolist()[:4] == [0.0, 0.5, 1.0, 1.5]  # "1.0" text became a number
    last = source.window_records()[-1]
    assert last == {"n": 200, "v": "007", "tag": True}
    assert len(source.window()) == 50
    wait_for(lambda: pending(r, "events", "dash") == 0, what="every entry acknowledged")
    groups = {g["name"]: g for g in r.xinfo_groups("events")}
    assert groups[b"dash"]["last-delivered-id"] == r.xrevrange("events", count=1)[0][0]
    quality = source.quality()
    assert quality.connected and quality.garbage_frames == 0 and quality.duplicates == 0
    assert quality.lag_basis == "event" and 0 <= quality.lag_seconds < 60  # from the entry ids
    assert "201 rows" in quality.summary() and "connected" in quality.summary()

    r.xadd("events", {"json": json.dumps({"n": 201, "v": 1.0, "tag": "t0"})})  # live
    wait_for(lambda: source.quality().rows_stored == 202, what="a row added while following")


def test_an_entry_stored_but_delivered_again_is_a_duplicate_not_stored_twice(
        redis_server, consume, tmp_path):
    server = redis_server()
    r = server.client()
    for n in range(100):
        r.xadd("s", {"n": str(n)})
    url = server.url("s", group="g")
    source = consume(url, "s")
    wait_for(lambda: source.quality().rows_stored == 100, what="100 rows")
    wait_for(lambda: pending(r, "s", "g") == 0, what="acknowledged")
    source.close()

    r.xgroup_setid("s", "g", "0")  # the group forgets: every entry is delivered again
    for n in range(100, 110):
        r.xadd("s", {"n": str(n)})
    again = consume(url, "s")
    wait_for(lambda: again.quality().rows_stored == 110, what="the 10 new rows")
    wait_for(lambda: again.quality().duplicates == 100, what="100 duplicates counted")
    assert read_store("s", tmp_path)["n"].tolist() == list(range(110))  # each exactly once
    wait_for(lambda: pending(r, "s", "g") == 0, what="duplicates acknowledged too")


def test_a_consumers_own_pending_entries_are_read_first(redis_server, consume, tmp_path):
    """Entries delivered to this consumer but never acknowledged (it died before storing them)
    are stored on its next start, before new ones."""
    server = redis_server()
    r = server.client()
    r.xgroup_create("p", "g", id="0", mkstream=True)
    for n in range(30):
        r.xadd("p", {"n": str(n)})
    r.xreadgroup("g", "worker-1", {"p": ">"}, count=30)  # delivered, never acknowledged
    assert pending(r, "p", "g") == 30
    for n in range(30, 40):
        r.xadd("p", {"n": str(n)})
    source = consume(server.url("p", group="g"), "p", consumer="worker-1")
    wait_for(lambda: source.quality().rows_stored == 40, what="40 rows")
    assert read_store("p", tmp_path)["n"].tolist() == list(range(40))
    wait_for(lambda: pending(r, "p", "g") == 0, what="all acknowledged")


def test_garbage_entries_are_counted_acknowledged_and_the_stream_goes_on(
        redis_server, consume, tmp_path):
    server = redis_server()
    r = server.client()
    r.xgroup_create("g1", "g", id="0", mkstream=True)
    r.xadd("g1", {"n": "0"})
    gone = r.xadd("g1", {"n": "gone"})
    r.xreadgroup("g", "c", {"g1": ">"}, count=2)  # pending for consumer c...
    r.xdel("g1", gone)  # ...and then deleted before c stored it
    r.xadd("g1", {"json": "not json"})
    r.xadd("g1", {"json": "[1, 2]"})
    r.xadd("g1", {"json": '"a string"'})
    r.xadd("g1", {"json": "{\"n\": 1"})  # cut short
    r.xadd("g1", {"n": b"\xff\xfe"})  # not UTF-8
    r.xadd("g1", {"json": json.dumps({"n": 2, "blob": "x" * 5000})})  # over max_message_bytes
    r.xadd("g1", {"json": json.dumps({"n": 3, "seq": "seven"})})  # bad, as sequence_field
    r.xadd("g1", {"n": "4"})
    source = consume(server.url("g1"), "g1", group="g", consumer="c", max_message_bytes=4096,
                     sequence_field="seq")
    wait_for(lambda: source.quality().rows_stored == 2, what="the good rows")
    wait_for(lambda: source.quality().garbage_frames == 8, what="8 garbage entries")
    assert read_store("g1", tmp_path)["n"].tolist() == [0, 4]
    wait_for(lambda: pending(r, "g1", "g") == 0, what="garbage acknowledged, not stuck")
    quality = source.quality()
    assert "8 garbage frames" in quality.summary()
    assert "sequence number 'seq'" in (quality.last_rejected or "")
    r.xadd("g1", {"n": "5"})  # the stream goes on
    wait_for(lambda: source.quality().rows_stored == 3, what="a row after the garbage")


def test_garbage_reasons_name_the_entry_and_the_problem(redis_server, consume, caplog):
    server = redis_server()
    r = server.client()
    big = r.xadd("h", {"json": "x" * 3000})
    odd = r.xadd("h", {"json": "[{\"n\": 1}]"})
    with caplog.at_level(logging.WARNING, logger="hub_kernel"):
        source = consume(server.url("h"), "h", max_message_bytes=2048)
        wait_for(lambda: source.quality().garbage_frames == 2, what="2 garbage entries")
    text = caplog.text
    assert f"entry {big.decode()} holds 3,004 bytes, more than max_message_bytes" in text
    assert f"entry {odd.decode()}: the field 'json' must hold one JSON object" in text
    assert "x" * 100 not in text  # a huge entry is not logged whole


@pytest.mark.slow
def test_a_redis_server_killed_and_restarted_loses_nothing(redis_server, consume, tmp_path):
    server = redis_server(appendonly=True)  # the stream survives the server's kill -9
    r = server.client()
    for n in range(100):
        r.xadd("k", {"n": str(n)})
    source = consume(server.url("k", group="g"), "k")
    wait_for(lambda: source.quality().rows_stored == 100, what="100 rows")
    server.kill()
    wait_for(lambda: not source.quality().connected, what="the source to see the loss")
    assert source.quality().last_error
    server.start()  # same port, same data
    r = server.client()
    for n in range(100, 200):
        r.xadd("k", {"n": str(n)})
    wait_for(lambda: source.quality().rows_stored == 200, timeout=30, what="200 rows")
    quality = source.quality()
    assert quality.reconnects >= 1 and quality.connected
    assert read_store("k", tmp_path)["n"].tolist() == list(range(200))
    wait_for(lambda: pending(r, "k", "g") == 0, what="all acknowledged")


def test_a_password_in_the_url_is_never_shown(redis_server, consume, caplog):
    secret = "s3cr3t-pa55w0rd"
    server = redis_server(password=secret)
    server.client().xadd("priv", {"n": "1"})
    with caplog.at_level(logging.DEBUG, logger="hub_kernel"):
        wrong = consume(server.url("priv", password="wr0ng-pa55w0rd"), "wrong")
        wait_for(lambda: wrong.quality().last_error is not None, what="the refusal")
        quality = wrong.quality()
        assert not quality.connected
        right = consume(server.url("priv"), "right")
        wait_for(lambda: right.quality().rows_stored == 1, what="the row, with the password")
        with pytest.raises(StreamError) as caught:
            StreamSource(server.url("priv", bogus="1"), "x")
    shown = " ".join([caplog.text, str(caught.value), repr(wrong), repr(right),
                      quality.last_error or "", quality.summary(), wrong.display_url,
                      right.quality().summary()])
    assert secret not in shown and "wr0ng-pa55w0rd" not in shown
    assert "***@127.0.0.1" in repr(right)
    assert "AuthenticationError" in (quality.last_error or "") or "auth" in (
        quality.last_error or "").lower()


def test_redis_urls_are_checked_with_errors_that_say_what_to_do(tmp_path):
    def refused(url: str, **options) -> str:
        with pytest.raises(StreamError) as caught:
            StreamSource(url, store_dir=tmp_path, **options)
        return str(caught.value)

    assert "/STREAM or /DB/STREAM" in refused("redis://127.0.0.1:1/")
    assert "/STREAM or /DB/STREAM" in refused("redis://127.0.0.1:1/a/b/c")
    assert "unknown query parameter 'grup'" in refused("redis://127.0.0.1:1/s?grup=g")
    assert "'0'" in refused("redis://127.0.0.1:1/s", start="latest")
    assert "redis:// streams" in refused("ws://127.0.0.1:1/", group="g")
    assert "no stream transport for http" in refused("http://127.0.0.1:1/")
    with StreamSource("redis://127.0.0.1:1/3/my%2Fstream?group=g2&consumer=me",
                      store_dir=tmp_path) as source:
        transport = source._transport
        assert (transport.key, transport.db, transport.group, transport.consumer) == (
            "my/stream", 3, "g2", "me")
        assert source.name == "my_stream"
    for key, name in (("_events", "events"), ("-x", "x"), ("__k:v", "k_v")):  # no start: _ -
        with StreamSource(f"redis://127.0.0.1:1/{key}", store_dir=tmp_path) as source:
            assert source.name == name


def test_without_redis_py_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)  # as if redis-py were not installed
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(StreamError, match=r"pip install 'hub\[redis\]'"):
        StreamSource("redis://127.0.0.1:1/s", store_dir=tmp_path)


def stored_count(path) -> int:
    import sqlite3

    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    except sqlite3.OperationalError:  # the consumer is creating it
        return 0


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_consumer_killed_with_sigkill_mid_stream_stores_every_entry_exactly_once(
        redis_server, tmp_path):
    import os
    import signal
    import subprocess
    import threading

    server = redis_server()
    total = 3000
    url = server.url("orders", group="billing")
    home = tmp_path / "home"
    env = {**os.environ, "HUB_HOME": str(home)}
    store = home / "streams" / "orders.sqlite"
    argv = [sys.executable, "-m", "hub_kernel.cli.stream", "consume", url, "--every", "0"]

    def producer() -> None:  # keeps adding while consumers come and go
        r = server.client()
        for start in range(0, total, 20):
            with r.pipeline(transaction=False) as pipe:
                for n in range(start, start + 20):
                    pipe.xadd("orders", {"n": str(n), "amount": str(n * 0.25)})
                pipe.execute()
            # about 200 entries/s, 15 s in all: slower than a consumer stores them, so each
            # kill lands mid-stream with the producer still adding, even on a loaded machine
            time.sleep(0.1)

    feeding = threading.Thread(target=producer, daemon=True)
    feeding.start()
    kills = 0
    for threshold in (300, 1200):
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda t=threshold: stored_count(store) >= t, timeout=60,
                     what=f"{threshold} rows stored")
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        kills += 1
        assert stored_count(store) < total  # killed mid-stream
    assert feeding.is_alive()  # the producer was still going
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    try:
        feeding.join(60)
        wait_for(lambda: stored_count(store) >= total, timeout=60, what="every entry")
        time.sleep(0.5)  # anything stored twice would show up now
    finally:
        process.send_signal(signal.SIGTERM)  # a clean stop: stores what it read, then exits
        out, _ = process.communicate(timeout=20)
    assert process.returncode == 0 and kills == 2
    assert "orders: 3,000 rows" in out  # the quality line printed on the way out
    numbers = read_store("orders", home / "streams")["n"].tolist()
    assert numbers == list(range(total))  # every entry, exactly once, in order
    assert pending(server.client(), "orders", "billing") == 0


def test_a_rediss_url_reads_over_tls(redis_server, consume, tmp_path):
    server = redis_server(tls=True, password="tls-pa55")
    r = server.client()
    for n in range(20):
        r.xadd("secure", {"n": str(n)})
    url = server.url("secure", group="g")
    assert url.startswith("rediss://") and "ssl_ca_certs=" in url
    source = consume(url)
    wait_for(lambda: source.quality().rows_stored == 20, what="20 rows over TLS")
    assert read_store("secure", tmp_path)["n"].tolist() == list(range(20))
    plain = consume(url.replace("rediss://", "redis://", 1).split("?")[0], "plain")
    wait_for(lambda: plain.quality().last_error is not None, what="plain text refused")
    assert plain.quality().rows_stored == 0 and "tls-pa55" not in plain.quality().last_error


def test_claim_idle_takes_over_the_entries_of_a_consumer_that_died(redis_server, consume,
                                                                   tmp_path):
    server = redis_server()
    r = server.client()
    r.xgroup_create("c", "g", id="0", mkstream=True)
    for n in range(25):
        r.xadd("c", {"n": str(n)})
    r.xreadgroup("g", "old-host-c", {"c": ">"}, count=20)  # its host is gone for good
    without = consume(server.url("c", group="g"), "without")  # the default: never taken
    wait_for(lambda: without.quality().rows_stored == 5, what="the 5 entries not pending")
    time.sleep(1.0)
    assert without.quality().rows_stored == 5 and pending(r, "c", "g") == 20
    without.close()
    source = consume(server.url("c", group="g", claim_idle="0.5"), "with")
    wait_for(lambda: source.quality().rows_stored == 20, what="the 20 abandoned entries")
    assert sorted(read_store("with", tmp_path)["n"].tolist()) == list(range(20))
    wait_for(lambda: pending(r, "c", "g") == 0, what="taken over and acknowledged")
    with pytest.raises(StreamError, match="claim_idle='soon'"):
        StreamSource(server.url("c", claim_idle="soon"), "bad", store_dir=tmp_path)


def test_a_bad_connection_option_is_refused_when_the_source_is_made(tmp_path):
    with pytest.raises(StreamError, match="socket_timeout") as caught:
        StreamSource("redis://:pw-in-url@127.0.0.1:1/s?socket_timeout=soon", store_dir=tmp_path)
    assert "pw-in-url" not in str(caught.value)


def test_a_store_made_before_message_ids_were_kept_is_upgraded_in_place(tmp_path):
    import sqlite3

    from hub_kernel.data.stream import StreamStore

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # the schema stores had before the key column
        db.executescript(
            "CREATE TABLE rows (id INTEGER PRIMARY KEY, seq INTEGER UNIQUE, "
            "received REAL NOT NULL, data TEXT NOT NULL);"
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT INTO rows (seq, received, data) VALUES (1, 0.0, '{\"seq\": 1}');")
    store = StreamStore(path)
    try:
        store.append([(None, 0.0, '{"n": 2}', "5-0")], {})
        store.append([(None, 0.0, '{"n": 2}', "5-0")], {})  # the same id: kept once
        assert store.has_key("5-0") and not store.has_key("6-0")
        count, *_ = store.load(10, 10_000)
        assert count == 2
    finally:
        store.close()


def test_a_restarted_replay_adds_rows_the_consumer_stores_not_duplicates(
        redis_server, consume, tmp_path):
    """`hub stream redis-demo` stopped and started again: its new entries go on numbering
    (seq) after the stream's newest entry, so a consumer following the stream stores them
    instead of taking them for duplicates of the first run's rows."""
    import asyncio

    import pandas as pd

    from hub_kernel.data.stream.redis_client import replay

    server = redis_server()
    url = server.url("demo", group="g")
    table = pd.DataFrame({"a": range(10)})
    assert asyncio.run(replay(url, table, rate=None, loop=False)) == 10
    source = consume(url, "demo")
    wait_for(lambda: source.quality().rows_stored == 10, what="the first run's 10 rows")
    assert asyncio.run(replay(url, table, rate=None, loop=False)) == 10  # the demo restarted
    wait_for(lambda: source.quality().rows_stored == 20, what="the second run's 10 rows")
    frame = read_store("demo", tmp_path)
    assert frame["seq"].tolist() == list(range(20))
    assert frame["a"].tolist() == list(range(10)) * 2  # each run replays the table once
    assert source.quality().duplicates == 0


def test_a_password_with_a_slash_not_percent_encoded_is_not_shown(redis_server, consume,
                                                                  tmp_path):
    """A base64 password (``/``, ``+``, ``=``) pasted as is splits the URL in the wrong place;
    the refusal must still not show it, and the percent-encoded URL works."""
    secret = "Xy7q/abc+def=="
    server = redis_server(password=secret)
    server.client().xadd("priv", {"n": "1"})
    for raw in (f"redis://:{secret}@127.0.0.1:{server.port}/0/priv",
                f"redis://default:{secret}@127.0.0.1:{server.port}/priv?group=g",
                f"redis://:ab?cd#ef@127.0.0.1:{server.port}/priv"):
        with pytest.raises(StreamError) as caught:
            StreamSource(raw, store_dir=tmp_path)
        message = str(caught.value)
        for part in ("Xy7q", "abc+def", "ab?cd", "cd#ef"):
            assert part not in message, message
        assert "***" in message and "must be percent-encoded (%2F" in message
    source = consume(server.url("priv"), "priv")  # the same password, percent-encoded
    wait_for(lambda: source.quality().rows_stored == 1, what="the row")
    assert secret not in repr(source) and "Xy7q" not in repr(source)


def test_an_entry_holding_a_lone_surrogate_is_garbage_not_a_row_that_breaks_reading(
        redis_server, consume, tmp_path):
    """JSON may escape half of a UTF-16 pair (\\ud800), which is no Unicode text: stored, it
    made every later read_all() / read_store() and window() fail; it is refused instead."""
    server = redis_server()
    r = server.client()
    r.xadd("u", {"json": json.dumps({"n": 1, "s": "ok \N{GRINNING FACE}"})})  # a whole pair
    r.xadd("u", {"json": '{"n": 2, "s": "\\ud800"}'})
    r.xadd("u", {"json": '{"n": 3, "deep": {"s": ["\\udc00x"]}}'})
    r.xadd("u", {"json": '{"n": 4, "s": "a \\\\ud800 backslash"}'})  # text, not an escape
    source = consume(server.url("u"), "u")
    wait_for(lambda: source.quality().rows_stored == 2, what="the 2 good rows")
    wait_for(lambda: source.quality().garbage_frames == 2, what="2 garbage entries")
    assert "surrogate" in (source.quality().last_rejected or "")
    assert read_store("u", tmp_path)["n"].tolist() == [1, 4]
    assert source.window()["s"].tolist() == ["ok \N{GRINNING FACE}", "a \\ud800 backslash"]
    wait_for(lambda: pending(r, "u", "hub") == 0, what="all acknowledged")


def test_a_producer_whose_seq_restarts_loses_no_row(redis_server, consume):
    """Redis rows are identified by their entry ids: a ``seq`` field numbered again from 0 (a
    restarted producer, or one numbering per device) is data, not a duplicate to drop."""
    server = redis_server()
    r = server.client()
    for n in range(10):
        r.xadd("readings", {"seq": str(n), "v": str(n)})
    source = consume(server.url("readings", group="dash"))
    wait_for(lambda: source.quality().rows_stored == 10, what="the first 10 rows")
    for n in range(10):  # the producer restarted: seq 0..9 again, other values
        r.xadd("readings", {"seq": str(n), "v": str(100 + n)})
    wait_for(lambda: source.quality().rows_stored == 20, what="the second 10 rows")
    assert source.quality().duplicates == 0
    frame = read_store("readings", source.store_path.parent)
    assert frame["v"].tolist() == [*range(10), *range(100, 110)]
    wait_for(lambda: pending(r, "readings", "dash") == 0, what="every entry acknowledged")
