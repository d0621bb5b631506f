"""The room page says when the cast runs on the offline stand-in: a banner for staff, a small note
for viewers, nothing when a real endpoint is configured."""
from __future__ import annotations

import pytest

from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_it_tells_staff_and_viewers_that_the_cast_is_the_offline_stand_in(client, settings) -> None:
    settings.LLM_OFFLINE = True
    room = RoomFactory()

    viewer_page = client.get(f"/rooms/{room.slug}/").content.decode()
    client.force_login(UserFactory(is_staff=True))
    staff_page = client.get(f"/rooms/{room.slug}/").content.decode()

    assert 'id="cast-provider-note"' in viewer_page and "stand-in" in viewer_page and "cast-provider-banner" not in viewer_page
    assert 'id="cast-provider-banner"' in staff_page and "OPENAI_BASE_URL" in staff_page


def test_it_says_nothing_when_a_real_endpoint_is_configured(client, settings) -> None:
    settings.LLM_OFFLINE = False
    room = RoomFactory()
    client.force_login(UserFactory(is_staff=True))

    page = client.get(f"/rooms/{room.slug}/").content.decode()

    assert "cast-provider" not in page
