"""The scripted source driving the whole stream-context pipeline against real Redis and PostgreSQL."""
from __future__ import annotations

import io
import threading

import pytest
from django.core.management import call_command

from chat.selectors import context_latest
from chatter_site.lib.runtime import EXIT_SOURCE_YIELDED
from streamctx.models import StreamContextRecord
from streamctx.pipeline import ROOM_BUSY, StreamContextSession, new_source_id, paced
from streamctx.scripted import script_load, script_playback
from streamctx.services import stream_source_claim, stream_source_owner
from tests.factories import RoomFactory
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = """\
00:00 Alright chat welcome back, today is the boss rush speedrun
00:02 Oh no, I missed the parry, I'm at low health
00:04 Clutch! No way, we got him with one HP, let's go!
00:06 Chat, should I go for the risky skip or play it safe?
"""


def _script(tmp_path, text=SCRIPT):
    path = tmp_path / "script.txt"
    path.write_text(text)
    return script_load(path)


def _session(room, **kwargs):
    return StreamContextSession(room=room, source_id=new_source_id("script"), window_seconds=45, cadence=0.5, **kwargs)


def test_it_publishes_transcript_events_and_keywords_from_a_script(tmp_path):
    room = RoomFactory()
    session = _session(room)
    reason = session.run(paced(script_playback(_script(tmp_path), loop=False), speed=8.0), max_seconds=20)
    assert reason == "source ended"
    latest = context_latest(room=room)
    assert "we got him with one HP" in latest["transcript"]
    kinds = {event["kind"] for event in latest["events"]}
    assert {"fail", "clutch", "chat_question"} <= kinds
    assert "boss" in " ".join(latest["keywords"])
    assert latest["seq"] == StreamContextRecord.objects.filter(room=room).count()
    assert stream_source_owner(room_slug=room.slug) is None  # released when done


def test_it_publishes_on_cadence_while_nothing_is_said(tmp_path):
    room = RoomFactory()
    session = _session(room)
    quiet = _script(tmp_path, "00:00 hello\n00:30 still here\n")
    session.run(paced(script_playback(quiet, loop=False), speed=1.0), max_seconds=2.6)
    published = StreamContextRecord.objects.filter(room=room).count()
    assert 4 <= published <= 7  # every 0.5 s, with slack for a loaded machine


def test_it_stops_the_older_source_when_another_takes_the_room_over(tmp_path):
    room = RoomFactory()
    first = _session(room)
    stop = threading.Event()
    looping = paced(script_playback(_script(tmp_path), loop=True), speed=4.0, stop=stop)
    result: dict[str, str] = {}
    thread = threading.Thread(target=lambda: result.setdefault("reason", first.run(looping, stop=stop, max_seconds=30)))
    thread.start()
    try:
        wait_for(lambda: StreamContextRecord.objects.filter(room=room, source_id=first.source_id).exists(), timeout=10)
        second = _session(room)
        second.run(paced(script_playback(_script(tmp_path), loop=False), speed=8.0), max_seconds=1.5)
        thread.join(timeout=15)
        assert result["reason"] == "taken over"
    finally:
        stop.set()
        thread.join(timeout=5)


def test_it_leaves_a_busy_room_alone_when_told_to_play_only_if_free(tmp_path):
    room = RoomFactory()
    owner = stream_source_claim(room_slug=room.slug, source_id="script-users-own")
    assert owner is None
    demo = _session(room)

    reason = demo.run(paced(script_playback(_script(tmp_path), loop=True), speed=8.0), max_seconds=5, take_over=False)

    assert reason == ROOM_BUSY
    assert stream_source_owner(room_slug=room.slug) == "script-users-own"
    assert not StreamContextRecord.objects.filter(room=room, source_id=demo.source_id).exists()


def test_it_exits_with_the_yield_status_when_the_room_has_another_source(tmp_path):
    room = RoomFactory()
    stream_source_claim(room_slug=room.slug, source_id="script-users-own")
    script = tmp_path / "demo.txt"
    script.write_text(SCRIPT)
    out = io.StringIO()

    with pytest.raises(SystemExit) as exited:
        call_command("run_stream_context", room=room.slug, script=script, if_free=True, stdout=out)

    assert exited.value.code == EXIT_SOURCE_YIELDED
    assert f"stopped: {ROOM_BUSY}" in out.getvalue()
    assert stream_source_owner(room_slug=room.slug) == "script-users-own"


def test_it_keeps_a_bounded_history(tmp_path, settings):
    from streamctx.services import stream_context_prune

    room = RoomFactory()
    session = _session(room)
    session.run(paced(script_playback(_script(tmp_path), loop=False), speed=8.0), max_seconds=20)
    total = StreamContextRecord.objects.filter(room=room).count()
    assert total > 2
    stream_context_prune(room=room, keep=2)
    assert list(StreamContextRecord.objects.filter(room=room).order_by("seq").values_list("seq", flat=True)) == [total - 1, total]


def test_it_records_a_long_chat_spike_once():
    from datetime import datetime, timezone

    from streamctx.pipeline import ContextBuilder
    from streamctx.types import DetectedEvent

    builder = ContextBuilder(room_slug="r", window_seconds=45, epoch=datetime.now(timezone.utc))
    spikes = [DetectedEvent(kind="chat_spike", at_stream=t, confidence=0.7, evidence="") for t in (10.0, 12.0, 14.0)]
    recorded = [event for spike in spikes for event in builder.add_event(spike)]
    assert [event.at_stream for event in recorded] == [10.0]


def test_it_keeps_playing_through_a_redis_outage(tmp_path, monkeypatch):
    import redis

    from streamctx import pipeline

    room = RoomFactory()
    real_publish = pipeline.stream_context_publish
    outage = {"left": 3}

    def flaky_publish(**kwargs):
        if outage["left"]:
            outage["left"] -= 1
            raise redis.ConnectionError("Error 111 connecting to Redis. Connection refused.")
        return real_publish(**kwargs)

    monkeypatch.setattr(pipeline, "stream_context_publish", flaky_publish)
    session = _session(room)

    reason = session.run(paced(script_playback(_script(tmp_path), loop=False), speed=8.0), max_seconds=20)

    assert reason == "source ended"
    assert outage["left"] == 0
    assert "we got him with one HP" in context_latest(room=room)["transcript"]


def test_it_publishes_speech_that_came_too_soon_when_the_gap_has_passed_not_at_the_next_tick():
    """Two phrases recognised 0.1 s apart, a 30 s cadence: the second is published about
    SPEECH_PUBLISH_MIN_GAP after the first, not 30 s later."""
    from django.db import connection

    from streamctx.types import TimedSegment

    room = RoomFactory()
    session = StreamContextSession(room=room, source_id=new_source_id("audio"), window_seconds=45, cadence=30.0)
    stop = threading.Event()
    second_sent = threading.Event()

    def transcript() -> str:
        return (context_latest(room=room) or {}).get("transcript") or ""

    def source():
        yield TimedSegment(start=0.0, end=1.0, text="first phrase")
        wait_for(lambda: "first phrase" in transcript(), timeout=10)
        connection.close()  # this runs in the session's source thread: its own connection
        yield TimedSegment(start=1.0, end=1.1, text="second phrase")  # within the gap of that publish
        second_sent.set()
        stop.wait(30)  # the stream goes on, silent

    def run() -> None:
        try:
            session.run(source(), stop=stop, max_seconds=40)
        finally:
            connection.close()  # the session's own thread: its own connection

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert second_sent.wait(10)
        wait_for(lambda: "second phrase" in transcript(), timeout=10)
    finally:
        stop.set()
        thread.join(timeout=10)
