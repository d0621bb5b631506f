"""`record_firehose` and `replay`: a room's firehose to JSONL and back into a room through the real
gateway (PostgreSQL, the Redis firehose stream)."""
from __future__ import annotations

import io
import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from chat.events import firehose_key
from chat.models import Message
from chat.replay import replay_file_load, replay_plan, replay_run
from chat.services import draft_parse, human_draft, message_ingest
from chatter_site.lib.redis import redis_client
from tests.factories import RoomFactory, UserFactory, bot_draft
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2025, 1, 1, 20, 0, 0, tzinfo=timezone.utc)


def _recorded(seq: int, text: str, *, origin: str = "bot", name: str = "zed", at: float = 0.0, reply_to=None) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "seq": seq,
        "room": "recorded",
        "origin": origin,
        "author": {"name": name, "color": "#123456", "badges": []},
        "text": text,
        "created_at": (T0 + timedelta(seconds=at)).isoformat().replace("+00:00", "Z"),
        "mentions": [],
        "flags": [],
        "reply_to": reply_to,
        "client_id": None,
    }


def _write(tmp_path: Path, rows: list, name: str = "fire.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows), encoding="utf-8")
    return path


def _texts(room) -> list[str]:
    return list(Message.objects.filter(room=room).order_by("seq").values_list("text", flat=True))


def _replay(path: Path, room, *args: str) -> str:
    out = io.StringIO()
    call_command("replay", str(path), "--room", room.slug, *args, stdout=out)
    return out.getvalue()


class FakeClock:
    """Time that only moves when the replay waits; records when each wait ended."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.now += seconds
        return False


def test_it_replays_every_message_in_order_with_its_content(tmp_path):
    room = RoomFactory()
    rows = [
        _recorded(1, "first, from a bot", origin="bot", name="zed", at=0),
        _recorded(2, "hello from a viewer", origin="human", name="alice", at=1),
        _recorded(3, "welcome @alice", origin="bot", name="mira", at=2),
        _recorded(4, "a system notice", origin="system", name="stream", at=3),
    ]
    output = _replay(_write(tmp_path, rows), room, "--as-fast-as-possible")

    messages = list(Message.objects.filter(room=room).order_by("seq"))
    assert [m.text for m in messages] == [row["text"] for row in rows]
    assert [m.seq for m in messages] == [1, 2, 3, 4]
    assert [m.origin for m in messages] == ["bot", "human", "bot", "system"]
    assert [m.author_key for m in messages] == ["bot:zed", f"user:{messages[1].user_id}", "bot:mira", "system:stream"]
    assert all("replay" in m.author_badges for m in messages)
    assert messages[2].mentions == ["alice"]
    assert "finished: sent 4, seq 1–4" in output


def test_it_posts_recorded_humans_as_marked_replay_users_nobody_can_sign_in_as(tmp_path):
    room = RoomFactory()
    rows = [_recorded(n, f"line {n}", origin="human", name="alice", at=n) for n in range(1, 8)]  # > the rate limit
    _replay(_write(tmp_path, rows), room, "--as-fast-as-possible")

    user = get_user_model().objects.get(username="replay_alice")
    assert not user.is_active and not user.has_usable_password()
    assert Message.objects.filter(room=room, user=user, author_name="replay_alice").count() == 7


def test_it_keeps_replies_pointing_at_the_replayed_message(tmp_path):
    room = RoomFactory()
    question = _recorded(1, "anyone there?", origin="human", name="bob")
    answer = _recorded(2, "@bob always", reply_to=question["id"], at=1)
    orphan = _recorded(3, "replying to something not in the file", reply_to=str(uuid.uuid4()), at=2)
    _replay(_write(tmp_path, [question, answer, orphan]), room, "--as-fast-as-possible")

    first, second, third = Message.objects.filter(room=room).order_by("seq")
    assert second.reply_to == first.id
    assert third.reply_to is None


def test_it_scales_the_recorded_gaps_by_the_speed_and_caps_long_silences(tmp_path):
    room = RoomFactory()
    rows = [_recorded(1, "a", at=0), _recorded(2, "b", at=2), _recorded(3, "c", at=6), _recorded(4, "d", at=106)]
    plan = replay_plan(
        file=replay_file_load(path=str(_write(tmp_path, rows))), room_slug=room.slug, speed=2.0, max_gap=10.0, limit=None, run_tag=""
    )
    clock = FakeClock()
    sent_at: list[float] = []
    original = message_ingest

    def ingest_and_note(**kwargs):
        sent_at.append(clock())
        return original(**kwargs)

    import chat.replay as replay_module

    replay_module.message_ingest = ingest_and_note
    try:
        result = replay_run(plan=plan, clock=clock, wait=clock.wait)
    finally:
        replay_module.message_ingest = original
    # gaps 2 s, 4 s, 100 s at speed 2 → 1 s, 2 s, 50 s capped to 10 s
    assert [round(t - sent_at[0], 6) for t in sent_at] == [0.0, 1.0, 3.0, 13.0]
    assert result.sent == 4 and result.max_lag == 0.0
    assert _texts(room) == ["a", "b", "c", "d"]


def test_it_keeps_the_recorded_pace_in_real_time_loosely(tmp_path):
    room = RoomFactory()
    rows = [_recorded(n, f"m{n}", at=n * 0.4) for n in range(1, 5)]  # 1.2 s of recording
    path = _write(tmp_path, rows)
    started = time.monotonic()
    _replay(path, room, "--speed", "2")
    took = time.monotonic() - started
    # 0.6 s of schedule at speed 2: a lower bound only, since a loaded machine only adds time (the
    # exact schedule is checked on a fake clock above; an upper bound here was a coin toss under load).
    assert took >= 0.5
    fast_room = RoomFactory()
    _replay(path, fast_room, "--as-fast-as-possible")
    assert _texts(fast_room) == _texts(room) == ["m1", "m2", "m3", "m4"]


def test_it_refuses_a_bad_file_naming_every_bad_line_and_sends_nothing(tmp_path):
    room = RoomFactory()
    good = _recorded(1, "fine")
    wrong_schema = {**_recorded(3, "no colour"), "author": {"name": "x", "color": "blue"}}
    path = _write(tmp_path, [good, "{not json", wrong_schema, "", _recorded(4, "also fine")])

    with pytest.raises(CommandError) as error:
        _replay(path, room, "--as-fast-as-possible")
    message = str(error.value)
    assert "line 2: not JSON" in message
    assert "line 3: not a ChatMessage: author.color" in message
    assert "nothing was sent" in message
    assert Message.objects.filter(room=room).count() == 0


def test_it_refuses_an_unknown_room_and_a_missing_file(tmp_path):
    path = _write(tmp_path, [_recorded(1, "x")])
    with pytest.raises(CommandError, match="unknown room 'nope'"):
        call_command("replay", str(path), "--room", "nope", stdout=io.StringIO())
    with pytest.raises(CommandError, match="cannot read"):
        call_command("replay", str(tmp_path / "missing.jsonl"), "--room", RoomFactory().slug, stdout=io.StringIO())


def test_it_writes_nothing_on_a_dry_run(tmp_path):
    room = RoomFactory()
    rows = [_recorded(1, "hi", origin="human", name="dryrunner", at=0), _recorded(2, "yo", at=30)]
    output = _replay(_write(tmp_path, rows), room, "--dry-run", "--speed", "1", "--max-gap", "5")

    assert "2 messages (1 bot, 1 human), speed 1, about 5.0s" in output
    assert "nothing sent" in output
    assert Message.objects.filter(room=room).count() == 0
    assert not get_user_model().objects.filter(username="replay_dryrunner").exists()
    assert redis_client().xlen(firehose_key(room.slug)) == 0


def test_it_sends_only_what_is_missing_when_run_again(tmp_path):
    room = RoomFactory()
    path = _write(tmp_path, [_recorded(n, f"line {n}", origin="human" if n % 2 else "bot", at=n) for n in range(1, 6)])
    _replay(path, room, "--as-fast-as-possible", "--limit", "3")
    assert _texts(room) == ["line 1", "line 2", "line 3"]

    output = _replay(path, room, "--as-fast-as-possible")
    assert "3 already replayed (skipped)" in output
    assert "sent 2, seq 4–5, already there 3" in output
    output = _replay(path, room, "--as-fast-as-possible")
    assert "sent 0" in output
    assert _texts(room) == [f"line {n}" for n in range(1, 6)]

    _replay(path, room, "--as-fast-as-possible", "--fresh")
    assert len(_texts(room)) == 10


def test_it_replays_a_file_repeating_a_message_once(tmp_path):
    room = RoomFactory()
    row = _recorded(1, "once")
    output = _replay(_write(tmp_path, [row, row]), room, "--as-fast-as-possible")
    assert "1 duplicate lines in the file" in output
    assert _texts(room) == ["once"]


def test_it_stops_cleanly_when_interrupted_and_a_rerun_sends_the_rest(tmp_path):
    room = RoomFactory()
    path = _write(tmp_path, [_recorded(n, f"line {n}", at=n) for n in range(1, 6)])
    plan = replay_plan(file=replay_file_load(path=str(path)), room_slug=room.slug, speed=1.0, max_gap=10.0, limit=None, run_tag="")
    stop = threading.Event()
    clock = FakeClock()

    def wait(seconds: float) -> bool:
        clock.wait(seconds)
        if Message.objects.filter(room=room).count() >= 2:
            stop.set()  # Ctrl-C while waiting for the third message
        return stop.is_set()

    result = replay_run(plan=plan, stop=stop, clock=clock, wait=wait)
    assert result.interrupted and result.sent == 2
    assert _texts(room) == ["line 1", "line 2"]

    _replay(path, room, "--as-fast-as-possible")
    assert _texts(room) == [f"line {n}" for n in range(1, 6)]


def test_it_counts_what_the_gateway_refuses_and_goes_on(tmp_path):
    from chat.models import BlockedTerm
    from chat.selectors import blocked_rules_invalidate

    room = RoomFactory()
    BlockedTerm.objects.create(term="forbiddenword")
    blocked_rules_invalidate()
    path = _write(tmp_path, [_recorded(1, "ok"), _recorded(2, "a forbiddenword here"), _recorded(3, "ok again")])
    output = _replay(path, room, "--as-fast-as-possible")
    assert "refused 1 blocked" in output
    assert "refused line 2: blocked" in output
    assert _texts(room) == ["ok", "ok again"]


def test_it_prints_progress_while_replaying(tmp_path):
    room = RoomFactory()
    path = _write(tmp_path, [_recorded(n, f"p{n}") for n in range(1, 8)])
    output = _replay(path, room, "--as-fast-as-possible", "--progress-every", "3")
    progress = [line for line in output.splitlines() if "behind schedule" in line]
    assert progress[0].startswith("3/7: sent 3, skipped 0, refused 0;")
    assert progress[1].startswith("6/7: sent 6")


def test_it_records_the_firehose_and_replays_it_into_another_room(tmp_path):
    source, target = RoomFactory(), RoomFactory()
    viewer = UserFactory()
    message_ingest(draft=draft_parse(bot_draft(room=source, text="the bot opens", handle="mira", client_id="a")))
    asked = message_ingest(
        draft=human_draft(user=viewer, room_slug=source.slug, text="@mira what's up", client_id="b"), user=viewer
    )
    message_ingest(
        draft=draft_parse({**bot_draft(room=source, text="@viewer not much", handle="mira", client_id="c"), "reply_to": str(asked.id)})
    )
    recording = tmp_path / "source.jsonl"
    out = io.StringIO()
    call_command("record_firehose", "--room", source.slug, "--out", str(recording), stdout=out)
    assert "recorded 3 messages, last seq 3" in out.getvalue()
    lines = [json.loads(line) for line in recording.read_text().splitlines()]
    assert [line["text"] for line in lines] == _texts(source)

    _replay(recording, target, "--speed", "50")
    replayed = list(Message.objects.filter(room=target).order_by("seq"))
    assert [m.text for m in replayed] == _texts(source)
    assert [m.origin for m in replayed] == ["bot", "human", "bot"]
    assert replayed[1].author_name == f"replay_{viewer.username}"
    assert replayed[2].reply_to == replayed[1].id

    # The replay went through the gateway: it is in the target's firehose too, and records the same way.
    again = tmp_path / "target.jsonl"
    call_command("record_firehose", "--room", target.slug, "--out", str(again), stdout=io.StringIO())
    assert [json.loads(line)["text"] for line in again.read_text().splitlines()] == _texts(source)


def test_it_records_from_the_database_after_a_seq(tmp_path):
    room = RoomFactory()
    for n in range(1, 6):
        message_ingest(draft=draft_parse(bot_draft(room=room, text=f"db {n}", client_id=f"db-{n}")))
    redis_client().delete(firehose_key(room.slug))  # the stream is gone (a Redis restart): the table is not
    path = tmp_path / "db.jsonl"
    call_command("record_firehose", "--room", room.slug, "--from-db", "--after-seq", "2", "--out", str(path), stdout=io.StringIO())
    assert [json.loads(line)["text"] for line in path.read_text().splitlines()] == ["db 3", "db 4", "db 5"]


def test_it_follows_the_firehose_until_stopped(tmp_path):
    room = RoomFactory()
    message_ingest(draft=draft_parse(bot_draft(room=room, text="before", client_id="f-1")))
    path = tmp_path / "follow.jsonl"

    def later() -> None:
        time.sleep(0.3)
        message_ingest(draft=draft_parse(bot_draft(room=room, text="during", client_id="f-2")))

    from django.db import connection

    thread = threading.Thread(target=lambda: (later(), connection.close()))
    thread.start()
    call_command(
        "record_firehose", "--room", room.slug, "--follow", "--max-seconds", "1.5", "--out", str(path), stdout=io.StringIO()
    )
    thread.join()
    assert [json.loads(line)["text"] for line in path.read_text().splitlines()] == ["before", "during"]


def test_it_stops_on_ctrl_c_with_a_summary_and_exit_code_130(tmp_path, test_database_url):
    import signal
    import subprocess
    import sys

    from tests.support.processes import ROOT, child_env

    room = RoomFactory()
    path = _write(tmp_path, [_recorded(n, f"slow {n}", at=n * 5) for n in range(1, 4)])  # 5 s apart
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "replay", str(path), "--room", room.slug],
        cwd=ROOT,
        env=child_env(DATABASE_URL=test_database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: Message.objects.filter(room=room).exists() or proc.poll() is not None, timeout=30)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "stopped: sent 1, seq 1–1" in stdout
    assert "run the same command again to send the rest" in stderr
    assert _texts(room) == ["slow 1"]
