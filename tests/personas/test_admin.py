"""Moderators run the cast from admin: edit personas and rosters, switch them on and off, reset
drift, preview a line, and see who is spamming. Viewers cannot get in."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from chat.services import draft_parse, human_draft, message_ingest
from personas.models import DriftState, Persona, RoomCast, RosterEntry
from personas.selectors import cast_for_room
from tests.factories import RoomFactory, UserFactory, bot_draft
from tests.personas.factories import PersonaFactory, RosterEntryFactory

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/personas/persona/"
ACTIVITY = "/admin/personas/persona/activity/"


@pytest.fixture
def moderator():
    return get_user_model().objects.create_superuser("mod", "mod@example.com", "correct-horse-battery")


@pytest.fixture
def signed_in(client, moderator):
    client.force_login(moderator)
    return client


def persona_form(persona: Persona | None = None, **overrides) -> dict[str, str]:
    """The persona change form as a browser posts it (list anchors one per line), no roster rows."""
    persona = persona or Persona(handle="fresh")
    data = {
        "handle": persona.handle,
        "color": persona.color,
        "badges": "\n".join(persona.badges),
        "bio": persona.bio,
        "style": persona.style,
        "catchphrases": "\n".join(persona.catchphrases),
        "emotes": "\n".join(persona.emotes),
        "loved_topics": "\n".join(persona.loved_topics),
        "hated_topics": "\n".join(persona.hated_topics),
        "chattiness": str(persona.chattiness),
        "hype_sensitivity": str(persona.hype_sensitivity),
        "mention_reaction": str(persona.mention_reaction),
        "bot_affinity": str(persona.bot_affinity),
        "max_posts_per_minute": str(persona.max_posts_per_minute),
        "temperature": str(persona.temperature),
        "drift_review": persona.drift_review,
        "roster_entries-TOTAL_FORMS": "0",
        "roster_entries-INITIAL_FORMS": "0",
        "roster_entries-MIN_NUM_FORMS": "0",
        "roster_entries-MAX_NUM_FORMS": "1000",
    }
    if persona.enabled:
        data["enabled"] = "on"
    data.update(overrides)
    return data


def run_action(client, action: str, personas: list[Persona], **extra) -> object:
    data = {"action": action, "index": "0", "_selected_action": [str(p.pk) for p in personas], **extra}
    return client.post(CHANGELIST, data, follow=True)


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize(
    ("path", "names_the_persona"),
    [
        (CHANGELIST, True),
        (CHANGELIST + "?q=watches&enabled__exact=1&drift_review__exact=auto_small", True),
        (CHANGELIST + "add/", False),
        ("{change}", True),
        ("{preview}", True),
        (ACTIVITY, True),
        ("/admin/personas/roomcast/", False),
        ("{room}", True),
    ],
)
def test_it_shows_moderators_every_cast_screen(signed_in, path, names_the_persona):
    entry = RosterEntryFactory()
    RoomCast.objects.create(room=entry.room)
    DriftState.objects.create(persona=entry.persona, mood="smug", chattiness_delta=0.02)
    message_ingest(draft=draft_parse(bot_draft(room=entry.room, text="hello chat", handle=entry.persona.handle)))
    path = path.format(
        change=f"{CHANGELIST}{entry.persona.pk}/change/",
        preview=f"{CHANGELIST}{entry.persona.pk}/preview/",
        room=f"/admin/chat/room/{entry.room.pk}/change/",
    )
    response = signed_in.get(path)
    assert response.status_code == 200
    assert (entry.persona.handle in response.content.decode()) == names_the_persona


def test_it_filters_the_changelist_by_roster_room(signed_in):
    inside, outside = RosterEntryFactory(), PersonaFactory()
    RosterEntryFactory(persona=inside.persona)  # a second room must not duplicate the row
    response = signed_in.get(f"{CHANGELIST}?roster_entries__room__id__exact={inside.room.pk}")
    assert list(response.context["cl"].result_list) == [inside.persona]
    assert outside not in response.context["cl"].result_list


def test_it_lists_rooms_and_recent_posts_per_persona(signed_in):
    entry = RosterEntryFactory()
    RosterEntryFactory(persona=entry.persona)
    for n in range(3):
        message_ingest(draft=draft_parse(bot_draft(room=entry.room, text=f"line {n}", handle=entry.persona.handle)))
    response = signed_in.get(f"{CHANGELIST}?roster_entries__room__id__exact={entry.room.pk}")
    row = response.context["cl"].result_list[0]
    assert (row.rooms_count, row.posts_last_10_minutes) == (2, 3)


def test_it_creates_a_persona_with_one_list_item_per_line(signed_in):
    data = persona_form(emotes="Pog\n\n  KEKW  \n", catchphrases="let's go\nno way", loved_topics="speedrun\nmusic")
    response = signed_in.post(CHANGELIST + "add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    persona = Persona.objects.get(handle="fresh")
    assert persona.emotes == ["Pog", "KEKW"]
    assert persona.catchphrases == ["let's go", "no way"]
    assert persona.loved_topics == ["speedrun", "music"]


def test_it_refuses_an_emote_chat_does_not_know(signed_in):
    response = signed_in.post(CHANGELIST + "add/", persona_form(emotes="Pog\nNotAnEmote"))
    assert response.status_code == 200
    assert "unknown emote &#x27;NotAnEmote&#x27;" in response.content.decode()
    assert not Persona.objects.filter(handle="fresh").exists()


def test_it_adds_a_persona_to_a_room_roster_with_overrides_through_the_inline(signed_in):
    persona, room = PersonaFactory(), RoomFactory()
    data = persona_form(
        persona,
        **{
            "roster_entries-TOTAL_FORMS": "1",
            "roster_entries-0-room": str(room.pk),
            "roster_entries-0-enabled": "on",
            "roster_entries-0-chattiness": "0.2",
            "roster_entries-0-extra_style": "Extra polite here.",
        },
    )
    response = signed_in.post(f"{CHANGELIST}{persona.pk}/change/", data)
    assert response.status_code == 302
    entry = RosterEntry.objects.get(room=room, persona=persona)
    assert (entry.chattiness, entry.max_posts_per_minute, entry.extra_style) == (0.2, None, "Extra polite here.")
    assert [member.chattiness for member in cast_for_room(room=room)] == [0.2]


def test_it_edits_a_rooms_cast_knobs_and_roster_on_the_room_page(signed_in):
    room, persona = RoomFactory(), PersonaFactory()
    data = {
        "title": room.title, "slug": room.slug, "description": "", "is_live": "on", "slow_mode_seconds": "0",
        "cast-TOTAL_FORMS": "1", "cast-INITIAL_FORMS": "0", "cast-MIN_NUM_FORMS": "0", "cast-MAX_NUM_FORMS": "1",
        "cast-0-hype_multiplier": "2.0", "cast-0-bot_human_bias": "0.8", "cast-0-max_inflight": "2",
        "cast-0-max_bot_messages_per_minute": "30",
        "roster-TOTAL_FORMS": "1", "roster-INITIAL_FORMS": "0", "roster-MIN_NUM_FORMS": "0", "roster-MAX_NUM_FORMS": "1000",
        "roster-0-persona": str(persona.pk), "roster-0-enabled": "on", "roster-0-max_posts_per_minute": "1",
        # chat's own inlines on the room screen: its moderators and its emote set, left empty here.
        "moderators-TOTAL_FORMS": "0", "moderators-INITIAL_FORMS": "0", "moderators-MIN_NUM_FORMS": "0",
        "moderators-MAX_NUM_FORMS": "1000",
        "Emote_rooms-TOTAL_FORMS": "0", "Emote_rooms-INITIAL_FORMS": "0", "Emote_rooms-MIN_NUM_FORMS": "0",
        "Emote_rooms-MAX_NUM_FORMS": "1000",
    }
    response = signed_in.post(f"/admin/chat/room/{room.pk}/change/", data)
    assert response.status_code == 302
    assert RoomCast.objects.get(room=room).hype_multiplier == 2.0
    assert [member.max_posts_per_minute for member in cast_for_room(room=room)] == [1]


def test_it_disables_a_persona_so_the_next_tick_leaves_it_out(signed_in):
    entry = RosterEntryFactory()
    response = run_action(signed_in, "disable", [entry.persona])
    assert "1 persona(s) disabled." in shown_messages(response)
    assert cast_for_room(room=entry.room) == []


def test_it_enables_a_disabled_persona(signed_in):
    entry = RosterEntryFactory(persona=PersonaFactory(enabled=False))
    run_action(signed_in, "enable", [entry.persona])
    assert [member.handle for member in cast_for_room(room=entry.room)] == [entry.persona.handle]


def test_it_resets_drift_to_neutral(signed_in):
    drifted, calm = PersonaFactory(), PersonaFactory()
    DriftState.objects.create(persona=drifted, mood="grumpy", chattiness_delta=-0.05, hype_delta=0.4, bot_affinity_delta=0.1)
    response = run_action(signed_in, "reset_drift", [drifted, calm])
    drift = DriftState.objects.get(persona=drifted)
    assert (drift.mood, drift.chattiness_delta, drift.hype_delta, drift.bot_affinity_delta) == ("neutral", 0, 0, 0)
    assert "Drift reset for 2 persona(s) (1 had drifted state)." in shown_messages(response)


def test_it_previews_a_line_without_posting_it(signed_in, llm_server):
    entry = RosterEntryFactory()
    response = run_action(signed_in, "preview_line", [entry.persona])
    infos = [m for m in shown_messages(response) if " would say: " in m]
    assert len(infos) == 1 and infos[0].startswith(f"{entry.persona.handle} in {entry.room.slug} would say: ")
    assert len(llm_server.chat_requests) == 1
    assert not entry.room.messages.exists()


def test_it_asks_which_room_when_the_selected_personas_sit_in_several(signed_in, llm_server):
    first = RosterEntryFactory()
    second = RosterEntryFactory(persona=first.persona)
    response = run_action(signed_in, "preview_line", [first.persona])
    assert response.templates[0].name == "admin/personas/persona/preview_choose_room.html"
    response = signed_in.post(
        CHANGELIST, {"action": "preview_line", "_selected_action": [str(first.persona.pk)], "room": str(second.room.pk)},
        follow=True,
    )
    assert any(m.startswith(f"{first.persona.handle} in {second.room.slug} would say: ") for m in shown_messages(response))


def test_it_shows_the_models_failure_as_an_error_when_previewing(signed_in, llm_server):
    entry = RosterEntryFactory()
    llm_server.set_mode(fail_status=500)
    response = run_action(signed_in, "preview_line", [entry.persona])
    errors = [str(m) for m in response.context["messages"] if m.level_tag == "error"]
    assert len(errors) == 1 and errors[0].startswith(f"{entry.persona.handle} in {entry.room.slug}: ")


def test_it_previews_a_line_from_the_persona_page(signed_in, llm_server):
    entry = RosterEntryFactory()
    response = signed_in.post(f"{CHANGELIST}{entry.persona.pk}/preview/", {"room": str(entry.room.pk)})
    assert response.status_code == 200
    assert response.context["line"] and response.context["error"] is None
    assert not entry.room.messages.exists()


def test_it_shows_who_is_spamming_and_how_much_bots_answer_bots(signed_in):
    loud = RosterEntryFactory()
    quiet = RosterEntryFactory(room=loud.room)
    viewer = UserFactory()
    room = loud.room
    message_ingest(draft=draft_parse(bot_draft(room=room, text="first", handle=quiet.persona.handle)))
    for n in range(4):  # each right after a bot: quiet's line, then its own lines
        message_ingest(draft=draft_parse(bot_draft(room=room, text=f"spam {n}", handle=loud.persona.handle)))
    message_ingest(draft=human_draft(user=viewer, room_slug=room.slug, text="calm down", client_id="h1"), user=viewer)
    response = signed_in.get(ACTIVITY)
    assert response.status_code == 200
    report = response.context["report"]
    top = report.personas[0]
    assert (top.handle, top.posts_last_minute, top.posts_last_10_minutes) == (loud.persona.handle, 4, 4)
    assert top.after_bot_share == 0.25  # only the first spam followed another bot; the rest followed itself
    room_row = next(item for item in report.rooms if item.slug == room.slug)
    assert (room_row.messages_last_10_minutes, room_row.bot_messages, room_row.humans_active) == (6, 5, 1)
    assert room_row.bot_after_bot_share == pytest.approx(1 / 5)
    html = response.content.decode()
    assert f'data-handle="{loud.persona.handle}"' in html and "83%" in html  # bot share 5/6


def test_it_links_the_activity_page_from_the_changelist(signed_in):
    assert ACTIVITY in signed_in.get(CHANGELIST).content.decode()


def test_it_keeps_viewers_out_of_the_activity_page(client):
    client.force_login(UserFactory())
    response = client.get(ACTIVITY)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
