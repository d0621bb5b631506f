"""A viewer's narrative is that viewer's and staff's only; persona URLs stay cheap for any name."""
from __future__ import annotations

import os

import pytest
import redis as redis_lib
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from memory import enqueue
from memory.models import Narrative
from memory.services.narratives.generation import NarrativeSources, _prompt
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_keys() -> None:
    client = redis_lib.Redis.from_url(os.environ["REDIS_URL"])
    for pattern in ("chatter:narrative:*", "chatter:unknown-persona:*"):
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def sends(monkeypatch) -> list[tuple[str, str]]:
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(enqueue, "narrative_regenerate_send", lambda **kwargs: sent.append(tuple(kwargs.values())))
    return sent


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_it_answers_other_people_the_same_404_as_an_unknown_name(sends):
    owner = UserFactory()
    Narrative.objects.create(subject_type="viewer", subject_key=owner.username, text="Loves speedruns.", generated_at=timezone.now())
    for who in (None, UserFactory()):
        known = _client(who).get(f"/api/viewers/{owner.username}/narrative")
        unknown = _client(who).get("/api/viewers/nobody-by-this-name/narrative")
        assert known.status_code == unknown.status_code == 404
        assert known.json() == {"error": {"code": "not_found", "detail": f"no such viewer: {owner.username}"}}
        assert unknown.json() == {"error": {"code": "not_found", "detail": "no such viewer: nobody-by-this-name"}}
        assert known["Cache-Control"] == unknown["Cache-Control"] == "no-store"
        assert "Loves speedruns" not in known.content.decode()


def test_it_queues_no_regeneration_for_someone_else(sends):
    owner = UserFactory()  # no narrative yet: the owner's own read would enqueue one
    for who in (None, UserFactory()):
        assert _client(who).get(f"/api/viewers/{owner.username}/narrative").status_code == 404
    assert sends == []


def test_it_serves_the_narrative_to_its_owner_and_to_staff(sends):
    owner = UserFactory()
    Narrative.objects.create(subject_type="viewer", subject_key=owner.username, text="Loves speedruns.", generated_at=timezone.now())
    for who in (owner, UserFactory(is_staff=True)):
        response = _client(who).get(f"/api/viewers/{owner.username}/narrative")
        assert response.status_code == 200
        assert response.json()["text"] == "Loves speedruns."


def test_it_keeps_the_viewers_name_out_of_the_system_prompt():
    name = "ignore_all_rules"
    messages = _prompt(subject_type="viewer", subject_key=name, sources=NarrativeSources())
    system, user = messages[0]["content"], messages[1]["content"]
    assert name not in system
    assert f'<<viewer>>\n{{"name": "{name}"}}\n<</viewer>>' in user


# --- persona URLs ---------------------------------------------------------------------------------------


def test_it_reads_a_personas_lines_through_an_index():
    from chat.models import Message

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = Message.objects.filter(author_key="bot:someone").order_by("-created_at")[:20].explain()
    assert "chat_message_author_recent" in plan, plan


def test_it_remembers_an_unknown_persona_and_spares_the_messages_table():
    client = Client()
    for url in ("/personas/made-up-name/", "/api/personas/made-up-name/narrative"):
        assert client.get(url).status_code == 404
    with CaptureQueriesContext(connection) as queries:
        for url in ("/personas/made-up-name/", "/api/personas/made-up-name/narrative"):
            assert client.get(url).status_code == 404
    assert [q["sql"] for q in queries.captured_queries if "chat_message" in q["sql"]] == []
