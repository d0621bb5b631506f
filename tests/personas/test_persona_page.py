"""A persona's public page: its bio and favourite emotes, its lines with emotes drawn as on the room page."""
from __future__ import annotations

import uuid

import pytest

from chat.services import draft_parse, message_ingest
from personas.models import Persona
from tests.factories import RoomFactory, bot_draft

pytestmark = pytest.mark.django_db


def test_it_shows_the_bio_favourite_emotes_and_emotes_in_its_lines(client) -> None:
    handle = f"p{uuid.uuid4().hex[:10]}"
    Persona.objects.create(handle=handle, bio="Counts frames <for fun>.", emotes=["Kappa", "catJAM"], color="#22cc88")
    message_ingest(draft=draft_parse(bot_draft(room=RoomFactory(), handle=handle, text="that split Kappa <b>was</b> clean")))

    response = client.get(f"/personas/{handle}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert '<p class="persona-bio" data-testid="persona-bio">Counts frames &lt;for fun&gt;.</p>' in page
    assert '<img class="emote" src="/static/emotes/catJAM.svg" alt="catJAM" title="catJAM"' in page
    assert 'that split <img class="emote" src="/static/emotes/Kappa.svg" alt="Kappa"' in page and "&lt;b&gt;was&lt;/b&gt; clean" in page


def test_it_shows_a_configured_persona_that_has_not_spoken_yet(client) -> None:
    handle = f"p{uuid.uuid4().hex[:10]}"
    Persona.objects.create(handle=handle, bio="New here.")

    response = client.get(f"/personas/{handle}/")

    assert response.status_code == 200
    assert "New here." in response.content.decode() and "No lines in chat yet." in response.content.decode()


def test_it_answers_404_for_an_unknown_persona(client) -> None:
    assert client.get("/personas/nobody-at-all/").status_code == 404
