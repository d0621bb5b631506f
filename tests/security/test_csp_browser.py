"""Every page under the Content-Security-Policy in headless Chromium against a real Daphne: the
pages' own scripts run (no violation is reported), and an injected inline script does not."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from chat.services import draft_parse, message_ingest
from tests.factories import RoomFactory, UserFactory, bot_draft

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"
WAIT_MS = 30_000


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    violations: list[str] = []
    errors: list[str] = []
    page = context.new_page()
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page, violations
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def test_it_runs_every_pages_own_scripts_under_the_csp_and_blocks_injected_ones(live_daphne, process_env, transactional_db, page, settings):
    from scribe import services as scribe_services
    from tests.personas.factories import PersonaFactory

    # Versions go where Daphne reads them: its var dir.
    location = Path(process_env["CHATTER_VAR_DIR"]) / "media" / "documents"
    settings.STORAGES = {
        **settings.STORAGES,
        "documents": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(location)}},
    }

    page, violations = page
    staff = UserFactory(is_staff=True, is_superuser=True)
    room = RoomFactory()
    persona = PersonaFactory()
    message_ingest(draft=draft_parse(bot_draft(room=room, text="hello under the policy", handle=persona.handle)))
    document = scribe_services.document_start(room_slug=room.slug, title="Policy", style="factual")

    page.goto(f"{live_daphne}/admin/login/?next=/admin/")
    page.fill("#id_username", staff.username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form input[type=submit]")
    page.wait_for_url(f"{live_daphne}/admin/")
    paths = [
        "/", f"/rooms/{room.slug}/", f"/personas/{persona.handle}/", "/me/", f"/scribe/{document.slug}/",
        f"/scribe/{document.slug}/v1/", "/scribe/start/", "/accounts/signup/", "/admin/",
        "/admin/chat/room/", "/admin/personas/persona/", "/admin/memory/narrative/",
    ]
    # No admin change pages: they make this session's Daphne cache ContentType ids, which the flush
    # after this test renumbers, and a later test's admin save would then log against a stale id.
    for path in paths:
        response = page.goto(live_daphne + path)
        assert response.ok, (path, response.status)
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        page.wait_for_load_state("load")
    # The room page's script ran (it renders the history it was given and opens its socket).
    page.goto(f"{live_daphne}/rooms/{room.slug}/")
    page.wait_for_selector("#chat-messages .chat-message")
    assert violations == [], violations

    # An inline script that slipped into a page is refused.
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1'; document.body.append(s); }")
    page.wait_for_function("() => true")
    assert page.evaluate("() => window.__ran") is None
    assert any("script-src 'self'" in text for text in violations), violations
