"""Moderation over HTTP (SPEC 11): who may act, what each action does, the log, reports, modes."""
from __future__ import annotations

import json
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chat.models import Message, MessageReport, ModerationAction, Room, RoomModerator, RoomSanction
from chat.services import draft_parse, human_draft, message_ingest
from chatter_site.lib.errors import ChatterError
from personas.selectors import chat_window
from tests.factories import RoomFactory, UserFactory, bot_draft

pytestmark = pytest.mark.django_db


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _moderate(client: Client, room: Room, body) -> tuple[int, dict]:
    raw = body if isinstance(body, str) else json.dumps(body)
    response = client.post(f"/api/rooms/{room.slug}/moderation", data=raw, content_type="application/json")
    return response.status_code, response.json()


def _say(room: Room, user, text: str) -> Message:
    return message_ingest(
        draft=human_draft(user=user, room_slug=room.slug, text=text, client_id=uuid.uuid4().hex), user=user
    )


def _bot(room: Room, text: str) -> Message:
    return message_ingest(draft=draft_parse(bot_draft(room=room, text=text)))


@pytest.fixture
def room() -> Room:
    return RoomFactory()


@pytest.fixture
def moderator(room):
    user = UserFactory()
    RoomModerator.objects.create(room=room, user=user)
    return user


def test_it_refuses_moderation_by_anyone_but_moderators_and_logs_nothing(room):
    viewer = UserFactory()
    elsewhere = UserFactory()
    RoomModerator.objects.create(room=RoomFactory(), user=elsewhere)  # moderates another room only
    message = _bot(room, "still here")
    bodies = [
        {"action": "delete", "seq": message.seq},
        {"action": "clear"},
        {"action": "ban", "user": viewer.username},
        {"action": "mode", "emote_only": True},
        "not even json",
    ]
    for who in (None, viewer, elsewhere):
        for body in bodies:
            status, answer = _moderate(_client(who), room, body)
            assert status == 403, (who, body, answer)
            assert answer["error"]["code"] == "forbidden"
    assert ModerationAction.objects.count() == 0
    assert RoomSanction.objects.count() == 0
    assert Message.objects.filter(pk=message.pk).exists()
    assert Room.objects.get(pk=room.pk).emote_only is False
    assert _client().get(f"/api/rooms/{room.slug}/moderation").status_code == 405


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[]",
        {},
        {"action": "explode"},
        {"action": "delete"},
        {"action": "delete", "seq": "one"},
        {"action": "delete", "seq": 0},
        {"action": "timeout", "user": "x"},
        {"action": "timeout", "user": "x", "seconds": 0},
        {"action": "timeout", "user": "x", "seconds": 10**9},
        {"action": "ban"},
        {"action": "mode"},
        {"action": "mode", "slow_seconds": -1},
        {"action": "mode", "emote_only": "yes"},
        {"action": "clear", "reason": "x" * 501},
        {"action": "clear", "extra": 1},
    ],
)
def test_it_answers_invalid_to_a_bad_body_and_changes_nothing(room, moderator, body):
    message = _bot(room, "untouched")
    status, answer = _moderate(_client(moderator), room, body)
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid"
    assert ModerationAction.objects.count() == 0
    assert Message.objects.filter(pk=message.pk).exists()
    room.refresh_from_db()
    assert (room.slow_mode_seconds, room.emote_only) == (0, False)


def test_a_moderator_deletes_a_message_into_a_tombstone_that_keeps_seqs_gap_free(room, moderator):
    author = UserFactory()
    first, doomed, last = _bot(room, "one"), _say(room, author, "a line to delete"), _bot(room, "three")

    status, record = _moderate(_client(moderator), room, {"action": "delete", "seq": doomed.seq, "reason": "spoiler"})

    assert status == 200
    assert record["action"] == "delete" and record["seqs"] == [doomed.seq] and record["by"] == moderator.username
    assert record["user"] == author.username and record["reason"] == "spoiler" and record["created_at"]
    items = _client().get(f"/api/rooms/{room.slug}/messages?after=0").json()
    assert [item["seq"] for item in items] == [first.seq, doomed.seq, last.seq]
    assert items[1] == {"seq": doomed.seq, "deleted": True}
    assert "a line to delete" not in json.dumps(items)
    assert [item["text"] for item in (items[0], items[2])] == ["one", "three"]
    # The room page's history holds the tombstone too, never the words.
    page = _client().get(f"/rooms/{room.slug}/").content.decode()
    assert "a line to delete" not in page
    # Logged: who, what, when, why; and readers outside the gateway no longer see it.
    (logged,) = ModerationAction.objects.all()
    assert (logged.actor, logged.action, logged.seqs, logged.reason, logged.target) == (
        moderator, "delete", [doomed.seq], "spoiler", author,
    )
    assert not Message.objects.filter(pk=doomed.pk).exists()
    assert Message.all_objects.get(pk=doomed.pk).deleted_at is not None
    # Deleting it again is refused, and nothing more is logged.
    status, answer = _moderate(_client(moderator), room, {"action": "delete", "seq": doomed.seq})
    assert status == 404 and ModerationAction.objects.count() == 1


def test_staff_moderate_every_room_and_the_log_is_browsable_in_admin(room):
    staff = get_user_model().objects.create_superuser("chief", "chief@example.com", "correct-horse-battery")
    message = _bot(room, "bye")
    assert _moderate(_client(staff), room, {"action": "delete", "seq": message.seq, "reason": "testing the log"})[0] == 200
    page = _client(staff).get("/admin/chat/moderationaction/").content.decode()
    assert "testing the log" in page and "chief" in page and "delete" in page
    assert _client(staff).get("/admin/chat/moderationaction/add/").status_code == 403



@pytest.mark.django_db(transaction=True)
def test_the_personas_chat_window_loses_deleted_and_cleared_messages():
    room = RoomFactory()
    moderator = UserFactory()
    RoomModerator.objects.create(room=room, user=moderator)
    _bot(room, "kept line")
    doomed = _bot(room, "doomed line")
    _bot(room, "another kept line")
    assert [i["text"] for i in chat_window(room_slug=room.slug)] == ["kept line", "doomed line", "another kept line"]

    _moderate(_client(moderator), room, {"action": "delete", "seq": doomed.seq})
    assert [i["text"] for i in chat_window(room_slug=room.slug)] == ["kept line", "another kept line"]

    status, record = _moderate(_client(moderator), room, {"action": "clear", "reason": "fresh start"})
    assert status == 200 and record["seqs"] == [1, 3]
    assert chat_window(room_slug=room.slug) == []
    after = _bot(room, "after the clear")
    assert [i["text"] for i in chat_window(room_slug=room.slug)] == ["after the clear"]
    items = _client().get(f"/api/rooms/{room.slug}/messages?after=0").json()
    assert items[:3] == [{"seq": 1, "deleted": True}, {"seq": 2, "deleted": True}, {"seq": 3, "deleted": True}]
    assert items[3]["seq"] == after.seq == 4 and items[3]["text"] == "after the clear"


def test_timed_out_and_banned_viewers_cannot_send_until_unbanned(room, moderator):
    viewer = UserFactory()
    client = _client(moderator)
    status, record = _moderate(client, room, {"action": "timeout", "user": viewer.username, "seconds": 600})
    assert status == 200 and record["seconds"] == 600 and record["until"]

    with pytest.raises(ChatterError) as refused:
        _say(room, viewer, "can I talk?")
    assert refused.value.code == "timed_out"
    assert refused.value.extra["until"] == record["until"]
    assert refused.value.as_frame()["until"] == record["until"]

    status, banned = _moderate(client, room, {"action": "ban", "user": viewer.username, "reason": "spam"})
    assert status == 200 and banned["until"] is None
    with pytest.raises(ChatterError) as refused:
        _say(room, viewer, "and now?")
    assert refused.value.code == "banned" and refused.value.extra == {"until": None}
    _say(RoomFactory(), viewer, "other rooms are fine")

    assert _moderate(client, room, {"action": "unban", "user": viewer.username})[0] == 200
    assert _say(room, viewer, "back again").text == "back again"
    # Unbanning someone who is neither banned nor timed out is refused and not logged.
    assert _moderate(client, room, {"action": "unban", "user": viewer.username})[0] == 400
    assert list(ModerationAction.objects.order_by("created_at").values_list("action", flat=True)) == [
        "timeout", "ban", "unban",
    ]


def test_room_moderators_wear_the_moderator_badge_there_only(room, moderator):
    assert _say(room, moderator, "hello from the mod").author_badges == ["moderator"]
    assert _say(RoomFactory(), moderator, "just a viewer here").author_badges == []
    assert _say(room, UserFactory(), "a viewer").author_badges == []


def test_moderators_cannot_sanction_themselves_other_moderators_or_nobody(room, moderator):
    other = UserFactory()
    RoomModerator.objects.create(room=room, user=other)
    client = _client(moderator)
    assert _moderate(client, room, {"action": "ban", "user": moderator.username})[0] == 400
    assert _moderate(client, room, {"action": "timeout", "user": other.username, "seconds": 60})[0] == 400
    assert _moderate(client, room, {"action": "ban", "user": "nobody_at_all"})[0] == 404
    assert ModerationAction.objects.count() == 0 and RoomSanction.objects.count() == 0


def test_modes_set_slow_mode_and_emote_only(room, moderator):
    viewer = UserFactory()
    status, record = _moderate(_client(moderator), room, {"action": "mode", "emote_only": True})
    assert status == 200 and record["mode"] == {"slow_seconds": 0, "emote_only": True}
    with pytest.raises(ChatterError) as refused:
        _say(room, viewer, "words are not emotes")
    assert refused.value.code == "emote_only"
    assert _say(room, viewer, "Kappa PogChamp").text == "Kappa PogChamp"
    _bot(room, "personas are not held to it")

    status, record = _moderate(_client(moderator), room, {"action": "mode", "slow_seconds": 30, "emote_only": False})
    assert record["mode"] == {"slow_seconds": 30, "emote_only": False}
    room.refresh_from_db()
    assert (room.slow_mode_seconds, room.emote_only) == (30, False)
    _say(room, viewer, "first words")
    with pytest.raises(ChatterError) as refused:
        _say(room, viewer, "second words too soon")
    assert refused.value.code == "slow_mode"


def test_viewers_report_messages_into_the_admin_queue(room):
    reporter = UserFactory()
    message = _say(room, UserFactory(), "buy followers at spam dot example")
    url = f"/api/rooms/{room.slug}/reports"

    anonymous = _client().post(url, data=json.dumps({"seq": message.seq}), content_type="application/json")
    assert anonymous.status_code == 401
    bad = _client(reporter).post(url, data=json.dumps({"seq": message.seq, "reason": "boredom"}), content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"
    for _ in range(2):
        response = _client(reporter).post(
            url, data=json.dumps({"seq": message.seq, "reason": "spam", "note": "bot link"}), content_type="application/json"
        )
        assert response.status_code == 201 and response.json()["status"] == "open"
    assert MessageReport.objects.count() == 1
    assert _client(reporter).get(url).json()["reports"][0]["seq"] == message.seq

    staff = get_user_model().objects.create_superuser("queue_keeper", "q@example.com", "correct-horse-battery")
    queue = _client(staff).get("/admin/chat/messagereport/").content.decode()
    assert "buy followers at spam dot example" in queue and reporter.username in queue
    report = MessageReport.objects.get()
    response = _client(staff).post(
        "/admin/chat/messagereport/", {"action": "delete_reported", "_selected_action": [report.pk]}
    )
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.status == "resolved" and report.handled_by == staff
    assert not Message.objects.filter(pk=message.pk).exists()
    assert ModerationAction.objects.get().action == "delete"
