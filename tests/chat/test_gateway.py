"""The gateway pipeline: validation, safety, persistence with gap-free seqs, idempotency, limits."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import BlockedTerm, Conversation, Message, Room, SafetyAction
from chat.services import conversations_close_idle, draft_parse, human_draft, message_ingest
from chatter_site.lib.errors import ChatterError
from tests.factories import RoomFactory, UserFactory, bot_draft
from tests.support.processes import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


def _human(user, room, text, client_id="c-1"):
    return human_draft(user=user, room_slug=room.slug, text=text, client_id=client_id)


def test_it_assigns_seqs_without_gaps_under_concurrent_ingest_from_several_processes(process_env):
    room = RoomFactory()
    script = textwrap.dedent(
        f"""
        import django, sys
        django.setup()
        from chat.services import draft_parse, message_ingest
        worker = sys.argv[1]
        for i in range(40):
            message_ingest(draft=draft_parse({{
                "room": "{room.slug}", "origin": "bot", "author_key": "bot:w" + worker,
                "author": {{"name": "w" + worker, "color": "#112233", "badges": []}},
                "text": f"worker {{worker}} line {{i}}", "client_id": f"{{worker}}-{{i}}",
            }}))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(n)], cwd=ROOT, env=process_env, stderr=subprocess.PIPE)
        for n in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    seqs = list(Message.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 161))
    room.refresh_from_db()
    assert room.last_seq == 160


def test_it_yields_one_message_for_a_repeated_client_id():
    room, user = RoomFactory(), UserFactory()
    first = message_ingest(draft=_human(user, room, "hello", client_id="same-id"), user=user)
    again = message_ingest(draft=_human(user, room, "hello", client_id="same-id"), user=user)
    assert again.id == first.id
    assert Message.objects.filter(room=room).count() == 1
    assert Room.objects.get(pk=room.pk).last_seq == 1


def test_it_drops_a_blocked_term_and_records_why():
    room, user = RoomFactory(), UserFactory()
    BlockedTerm.objects.create(term="grapefruit", match="word", action="drop")
    with pytest.raises(ChatterError) as refused:
        message_ingest(draft=_human(user, room, "I love GRAPEFRUIT so much"), user=user)
    assert refused.value.code == "blocked"
    assert not Message.objects.filter(room=room).exists()
    assert Room.objects.get(pk=room.pk).last_seq == 0
    action = SafetyAction.objects.get(room=room)
    assert action.action == "drop" and "blocked:drop" in action.reasons


def test_it_redacts_an_email_address_and_records_the_sanitising():
    room, user = RoomFactory(), UserFactory()
    message = message_ingest(draft=_human(user, room, "mail me at jane.doe@example.com ok"), user=user)
    assert "jane.doe@example.com" not in message.text
    assert "[email]" in message.text
    assert "pii_redacted" in message.flags
    assert SafetyAction.objects.get(message=message).reasons == ["pii:email"]


def test_it_stores_a_script_payload_as_inert_text():
    room, user = RoomFactory(), UserFactory()
    payload = "<script>alert('x')</script>"
    message = message_ingest(draft=_human(user, room, payload), user=user)
    assert message.text == payload  # data, escaped where rendered
    assert "markup" in message.flags


def test_it_refuses_an_unknown_room_and_changes_nothing():
    user = UserFactory()
    draft = human_draft(user=user, room_slug="no-such-room", text="hi", client_id="x1")
    with pytest.raises(ChatterError) as refused:
        message_ingest(draft=draft, user=user)
    assert refused.value.code == "not_found"
    assert Message.objects.count() == 0


def test_it_refuses_a_draft_that_breaks_the_schema():
    with pytest.raises(ChatterError) as refused:
        draft_parse({"room": "r", "origin": "alien", "author": {"name": "x", "color": "red"}, "text": "hi"})
    assert refused.value.code == "invalid"


def test_it_strips_a_bot_line_to_one_line_and_caps_its_length():
    room = RoomFactory()
    message = message_ingest(draft=draft_parse(bot_draft(room=room, text="first line\nsecond line " + "x" * 600)))
    assert "\n" not in message.text
    assert len(message.text) <= 500


def test_it_holds_the_per_user_rate_limit(settings):
    settings.CHAT_RATE_LIMIT_COUNT = 3
    room, user = RoomFactory(), UserFactory()
    for n in range(3):
        message_ingest(draft=_human(user, room, f"msg {n}", client_id=f"rl-{n}"), user=user)
    with pytest.raises(ChatterError) as refused:
        message_ingest(draft=_human(user, room, "one too many", client_id="rl-4"), user=user)
    assert refused.value.code == "rate_limited"
    assert Message.objects.filter(room=room).count() == 3
    other = UserFactory()
    message_ingest(draft=_human(other, room, "someone else may talk", client_id="rl-other"), user=other)


def test_it_applies_slow_mode_per_room():
    room, user = RoomFactory(slow_mode_seconds=30), UserFactory()
    message_ingest(draft=_human(user, room, "first", client_id="s1"), user=user)
    with pytest.raises(ChatterError) as refused:
        message_ingest(draft=_human(user, room, "second", client_id="s2"), user=user)
    assert refused.value.code == "slow_mode"


def test_it_starts_a_new_conversation_after_inactivity(settings):
    room = RoomFactory()
    first = message_ingest(draft=draft_parse(bot_draft(room=room, text="early")))
    Conversation.objects.filter(pk=first.conversation_id).update(last_message_at=timezone.now() - timedelta(hours=3))
    second = message_ingest(draft=draft_parse(bot_draft(room=room, text="much later")))
    assert second.conversation_id != first.conversation_id
    assert Conversation.objects.get(pk=first.conversation_id).ended_at is not None
    assert Conversation.objects.get(pk=second.conversation_id).first_seq == 2


def test_it_closes_idle_conversations_in_the_sweep():
    room = RoomFactory()
    message = message_ingest(draft=draft_parse(bot_draft(room=room, text="hi")))
    Conversation.objects.filter(pk=message.conversation_id).update(last_message_at=timezone.now() - timedelta(hours=1))
    assert conversations_close_idle() == 1
    assert Conversation.objects.get(pk=message.conversation_id).ended_at is not None


def test_it_records_mentions():
    room = RoomFactory()
    message = message_ingest(draft=draft_parse(bot_draft(room=room, text="@alice and @Bob_2 look!")))
    assert message.mentions == ["Bob_2", "alice"]
