"""A moderator edits a persona and previews a line in headless Chromium against a real Daphne;
the preview line comes from the local OpenAI-compatible server through Daphne."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from personas.models import Persona
from tests.factories import RoomFactory, UserFactory
from tests.personas.factories import PersonaFactory, RosterEntryFactory

# transactional_db is requested by the test (as in tests/chat/test_browser.py), not by a django_db
# mark: a mark sets the database up before the autouse fixture below, so its flush would run after
# DJANGO_ALLOW_ASYNC_UNSAFE is gone, while Playwright's loop still runs on this thread.
pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"
WAIT_MS = 30_000  # a deadline for a loaded 2-core machine: a passing wait returns at once


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    script_errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    yield page
    context.close()
    assert not script_errors, f"uncaught errors in the page: {script_errors}"


def test_a_moderator_edits_a_bio_and_previews_a_line(live_daphne, transactional_db, llm_server, page: Page):
    moderator = UserFactory(is_staff=True, is_superuser=True)
    room = RoomFactory()
    persona = PersonaFactory(handle="hypeowl_admin")
    RosterEntryFactory(room=room, persona=persona)
    new_bio = "hypeowl lives for any% runs and never misses a split."

    page.goto(f"{live_daphne}/admin/login/?next=/admin/")
    page.fill("#id_username", moderator.username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form input[type=submit]")
    page.wait_for_url(f"{live_daphne}/admin/")

    change_path = f"/admin/personas/persona/{persona.pk}/change/"
    page.goto(live_daphne + change_path)
    page.fill("#id_bio", new_bio)
    page.click("input[name=_save]")

    expect(page.locator("ul.messagelist li.success")).to_contain_text(
        re.compile(r"was changed successfully"), timeout=WAIT_MS
    )
    assert Persona.objects.get(pk=persona.pk).bio == new_bio

    page.goto(live_daphne + change_path)
    page.click("text=Preview a line")
    page.wait_for_url(f"{live_daphne}/admin/personas/persona/{persona.pk}/preview/")
    page.select_option("#id_room", str(room.pk))
    page.click("form input[type=submit][value=Preview]")

    line = page.locator("p.preview-line q")
    expect(line).to_have_text(re.compile(r"\S"), timeout=WAIT_MS)
    expect(page.locator("p.preview-line")).to_contain_text(f"in {room.slug} would say")
    assert page.locator("ul.messagelist li.error").count() == 0
