"""Headless Chromium: start a scribe from the room page, chat, watch the document page grow live."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from scribe.models import ScribeDocument
from scribe.prompts import PLACEHOLDER
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"
WAIT_MS = 30_000  # a deadline for a loaded 2-core machine: a passing wait returns at once


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def sign_in(page: Page, base_url: str, *, username: str, next_path: str) -> None:
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")


def test_it_starts_a_scribe_on_the_room_page_and_the_document_grows_live(
    live_daphne, transactional_db, scribe_workers, llm_server, page
):
    scribe_workers()
    room = RoomFactory()
    staff = UserFactory(is_staff=True, is_superuser=True)
    sign_in(page, live_daphne, username=staff.username, next_path=f"/rooms/{room.slug}/")
    expect(page.locator("#chat-status")).to_have_text(re.compile(r"\bconnected\b"))

    page.fill("#scribe-start-title", "The <i>great</i> stream")
    page.select_option("#scribe-start-style", "conversational")
    page.click("#scribe-start")

    page.wait_for_url(re.compile(r"/scribe/the-igreati-stream/$"))
    document = ScribeDocument.objects.get(room=room)
    expect(page.locator("#scribe-content h1")).to_have_text("The <i>great</i> stream")
    expect(page.locator("#scribe-content")).to_contain_text(PLACEHOLDER.strip("_"))
    expect(page.locator("#scribe-version")).to_have_text("1")
    expect(page.locator("body")).to_have_attribute("data-scribe-socket", "open")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    chat = page.context.new_page()
    chat.goto(f"{live_daphne}/rooms/{room.slug}/")
    expect(chat.locator("#chat-status")).to_have_text(re.compile(r"\bconnected\b"))
    for n, text in enumerate(["the speedrunner clipped through the wall", "chat spams <b>POG</b> for the new record"], start=2):
        chat.fill("#chat-input", text)
        chat.click("#chat-send")
        expect(page.locator("#scribe-content")).to_contain_text(text)
        expect(page.locator("#scribe-version")).to_have_text(str(n))

    assert page.evaluate("window.sameDocument") is True
    assert page.locator("#scribe-content b").count() == 0
    expect(page.locator("#scribe-content")).not_to_contain_text(PLACEHOLDER.strip("_"))
    expect(page.locator("#scribe-history li").first).to_contain_text("v3")
    expect(page.locator("#scribe-status")).to_have_attribute("data-status", "idle")
    document.refresh_from_db()
    assert document.version == 3 and document.style == "conversational"
