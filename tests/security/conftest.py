"""Objects every route can be pointed at, so a refusal is a permission check and not a 404."""
from __future__ import annotations

from typing import Any

import pytest

from tests.factories import RoomFactory, UserFactory


@pytest.fixture
def documents_dir(settings, tmp_path):
    location = tmp_path / "documents"
    settings.STORAGES = {
        **settings.STORAGES,
        "documents": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(location)}},
    }
    return location


@pytest.fixture
def viewer():
    return UserFactory()


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def samples(documents_dir, viewer) -> dict[str, Any]:
    """Values for every URL parameter in the project, naming objects that exist."""
    from scribe import services as scribe_services
    from tests.personas.factories import PersonaFactory

    room = RoomFactory()
    persona = PersonaFactory()
    document = scribe_services.document_start(room_slug=room.slug, title="Security sweep", style="factual")
    return {
        "slug": room.slug,
        "handle": persona.handle,
        "username": viewer.username,
        "name": viewer.username,
        "document_id": document.pk,
        "key": document.slug,
        "version": document.version,
        "object_id": 1,
        "id": viewer.pk,
        "content_type_id": 1,
        "app_label": "chat",
        "url": "no-such-page/",
    }
