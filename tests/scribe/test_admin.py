"""Moderation of scribe documents in Django admin."""
from __future__ import annotations

import pytest
from django.test import Client

from scribe import services
from scribe.models import ScribeDocument
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def document():
    return services.document_start(room_slug=RoomFactory().slug, title="Admin view", style="literary")


def test_it_lists_documents_and_their_revisions(admin_client_, document):
    listing = admin_client_.get("/admin/scribe/scribedocument/")
    assert listing.status_code == 200 and "Admin view" in listing.content.decode()
    page = admin_client_.get(f"/admin/scribe/scribedocument/{document.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200 and f"scribe/{document.slug}/v000001-" in html and "/edit/" in html
    assert admin_client_.get("/admin/scribe/scriberevision/").status_code == 200


def test_it_stops_and_starts_scribes_with_actions(admin_client_, document):
    admin_client_.post("/admin/scribe/scribedocument/", {"action": "stop_scribes", "_selected_action": [document.pk]})
    document.refresh_from_db()
    assert document.enabled is False

    admin_client_.post("/admin/scribe/scribedocument/", {"action": "start_scribes_from_now", "_selected_action": [document.pk]})
    document.refresh_from_db()
    assert document.enabled is True


def test_it_forgets_a_deleted_document(admin_client_, document):
    from scribe import coordination

    services.scribe_index_rebuild()
    room_slug = document.room.slug
    assert coordination.enabled_index_read(room_slug=room_slug) == [document.pk]

    admin_client_.post(f"/admin/scribe/scribedocument/{document.pk}/delete/", {"post": "yes"})

    assert not ScribeDocument.objects.filter(pk=document.pk).exists()
    assert coordination.enabled_index_read(room_slug=room_slug) == []
