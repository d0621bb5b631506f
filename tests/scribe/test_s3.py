"""Versions in S3 for real: django-storages against moto's S3 server (through a proxy that can fail)."""
from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from chat.models import Room
from scribe import services
from scribe.models import ScribeDocument
from scribe.storage import StorageUnavailable, version_read
from tests.factories import RoomFactory, UserFactory
from tests.scribe.helpers import assert_each_turn_once, say
from tests.support.waiting import wait_for


def _object_text(s3_server, bucket: str, key: str) -> str:
    return s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read().decode()


@pytest.mark.django_db
def test_it_stores_every_version_in_s3_and_reads_it_back(s3_server, s3_documents, llm_server):
    room = RoomFactory()
    document = services.document_start(room_slug=room.slug, title="Bucket story", style="factual")
    messages = [say(room, f"s3 turn {n}") for n in range(3)]
    services.document_update_run(document_id=document.pk)
    document.refresh_from_db()

    revisions = list(document.revisions.order_by("version"))
    assert [r.version for r in revisions] == [1, 2]
    for revision in revisions:
        stored = _object_text(s3_server, s3_documents, revision.storage_key)  # straight from the S3 server
        assert hashlib.sha256(stored.encode()).hexdigest() == revision.sha256
        assert version_read(key=revision.storage_key, sha256=revision.sha256) == stored  # through django-storages
    assert _object_text(s3_server, s3_documents, revisions[-1].storage_key) == document.content
    assert_each_turn_once(document.content, messages)
    old = Client().get(f"/api/scribe/{document.pk}/revisions/1").json()
    assert old["content"].startswith("# Bucket story\n")


@pytest.mark.django_db
def test_it_refuses_to_start_while_s3_is_down_and_creates_nothing(s3_server, s3_documents):
    room = RoomFactory()
    s3_server.down()
    with pytest.raises(StorageUnavailable):
        services.document_start(room_slug=room.slug, title="Not now", style="factual")
    assert not ScribeDocument.objects.exists()
    response = _staff_client().post(
        "/api/scribe/start", {"room": room.slug, "title": "Not now", "style": "factual"}, content_type="application/json"
    )
    assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"


def _staff_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_it_retries_while_s3_is_unavailable_and_loses_nothing(s3_server, s3_documents, scribe_workers, llm_server):
    scribe_workers(**s3_server.worker_env(s3_documents), CHATTER_SCRIBE_RETRY_BACKOFF="1")
    room = RoomFactory()
    document = services.document_start(room_slug=room.slug, title="Outage", style="literary")
    messages = [say(room, "said just before the outage")]
    wait_for(lambda: ScribeDocument.objects.get(pk=document.pk).version == 2, timeout=20, message="the first update")

    s3_server.down()
    messages += [say(room, f"said during the outage {n}") for n in range(3)]
    failed = wait_for(
        lambda: (doc := ScribeDocument.objects.get(pk=document.pk)).status == "error" and doc,
        timeout=30,
        message="the update to fail on storage",
    )
    assert failed.version == 2 and "storage unavailable" in failed.last_error
    s3_server.up()

    def caught_up() -> ScribeDocument | None:
        doc = ScribeDocument.objects.get(pk=document.pk)
        return doc if doc.cursor_seq == Room.objects.get(pk=room.pk).last_seq and doc.status == "idle" else None

    document = wait_for(caught_up, timeout=60, message="the retried update to land")
    assert_each_turn_once(document.content, messages)
    revisions = list(document.revisions.order_by("version"))
    assert [r.version for r in revisions] == list(range(1, document.version + 1))
    for revision in revisions:
        assert hashlib.sha256(_object_text(s3_server, s3_documents, revision.storage_key).encode()).hexdigest() == revision.sha256
