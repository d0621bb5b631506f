"""Moderation in headless Chromium against a real Daphne, PostgreSQL and Redis (SPEC 11): a deleted
message vanishes from every screen at once, a clear empties them, a timeout shows its countdown, a
ban closes the socket. Several checks per test: each one costs a browser session."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from chat.models import ModerationAction, RoomModerator
from chat.moderation import moderation_apply
from chat.services import draft_parse, human_draft, message_ingest
from tests.chat.test_browser import MESSAGES, WAIT_MS, sign_in, wait_connected
from tests.factories import RoomFactory, UserFactory, bot_draft

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(os.environ.get("CHATTER_SCREENSHOT_DIR", "var/screenshots"))
VANISH_LIMIT_MS = 1000  # the issue's bar: gone from the other viewers' screens within 1 s

# Records when the line with a given seq leaves the page (performance clock of this page, in epoch ms).
WATCH_REMOVAL = """seq => {
  window.goneAt = null;
  const list = document.getElementById('chat-messages');
  new MutationObserver((changes, observer) => {
    if (!list.querySelector(`.chat-message[data-seq="${seq}"]`)) { window.goneAt = Date.now(); observer.disconnect(); }
  }).observe(list, {childList: true});
}"""


def _say(room, user, text):
    return message_ingest(draft=human_draft(user=user, room_slug=room.slug, text=text, client_id=os.urandom(8).hex()), user=user)


def test_a_moderator_deletes_a_line_and_clears_chat_on_every_screen(live_daphne, transactional_db, new_page, record_property):
    room = RoomFactory()
    moderator, author = UserFactory(), UserFactory()
    RoomModerator.objects.create(room=room, user=moderator)
    path = f"/rooms/{room.slug}/"
    mod_page = new_page()
    sign_in(mod_page, live_daphne, username=moderator.username, next_path=path)
    viewers = [new_page(), new_page()]
    for page in viewers:
        page.goto(live_daphne + path)
    for page in (mod_page, *viewers):
        wait_connected(page)

    message_ingest(draft=draft_parse(bot_draft(room=room, text="welcome in KEKW", handle="quill")))
    doomed = _say(room, author, "spoiler: the final boss is the narrator")
    message_ingest(draft=draft_parse(bot_draft(room=room, text="no spoilers please", handle="pixel")))
    for page in (mod_page, *viewers):
        expect(page.locator(MESSAGES)).to_have_count(3, timeout=WAIT_MS)
    for page in viewers:
        assert page.locator(".msg-actions").count() == 0  # signed-out viewers get no menu
        assert page.locator("#mod-tools").count() == 0
        page.evaluate(WATCH_REMOVAL, doomed.seq)

    # The moderator's tools: the room panel and the menu of the line.
    mod_page.click("#mod-tools")
    expect(mod_page.locator("#mod-panel")).to_be_visible()
    line = mod_page.locator(f'{MESSAGES}[data-seq="{doomed.seq}"]')
    line.hover()
    line.locator(".msg-actions").click()
    menu = mod_page.locator("#mod-menu")
    expect(menu).to_be_visible()
    expect(menu.locator(".mod-menu-name")).to_have_text(author.username)
    assert menu.locator(".mod-timeout").all_text_contents() == ["1m", "10m", "1h", "24h"]
    for control in (".mod-delete", ".mod-custom-go", ".mod-ban", ".mod-unban", ".mod-report"):
        expect(menu.locator(control)).to_be_visible()
    menu.locator(".mod-reason").fill("spoiler")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    mod_page.screenshot(path=str(SCREENSHOTS / "moderator-tools.png"))

    clicked_at = mod_page.evaluate("Date.now()")
    menu.locator(".mod-delete").click()
    for page in (mod_page, *viewers):
        expect(page.locator(f'{MESSAGES}[data-seq="{doomed.seq}"]')).to_have_count(0, timeout=WAIT_MS)
        expect(page.locator(MESSAGES)).to_have_count(2)
    for n, page in enumerate(viewers):
        vanished_ms = page.evaluate("window.goneAt") - clicked_at
        record_property(f"vanish_ms_viewer_{n}", vanished_ms)  # in --junitxml: the figure of the notes
        assert 0 <= vanished_ms <= VANISH_LIMIT_MS, f"the line took {vanished_ms} ms to vanish"
    logged = ModerationAction.objects.get()
    assert (logged.actor, logged.action, logged.seqs, logged.reason) == (moderator, "delete", [doomed.seq], "spoiler")
    # A reload shows the room without it: the tombstone is not drawn.
    viewers[0].reload()
    wait_connected(viewers[0])
    expect(viewers[0].locator(MESSAGES)).to_have_count(2)
    assert "final boss" not in viewers[0].content()

    # Clear chat: two clicks (the first arms it), and every screen empties.
    mod_page.click("#mod-clear")
    expect(mod_page.locator("#mod-clear")).to_have_attribute("data-armed", "true")
    mod_page.click("#mod-clear")
    for page in (mod_page, *viewers):
        expect(page.locator(MESSAGES)).to_have_count(0, timeout=WAIT_MS)
    expect(viewers[1].locator("#mod-toast")).to_contain_text("Chat was cleared by a moderator")
    message_ingest(draft=draft_parse(bot_draft(room=room, text="fresh start", handle="quill")))
    for page in (mod_page, *viewers):
        expect(page.locator(f"{MESSAGES} .chat-text")).to_have_text(["fresh start"], timeout=WAIT_MS)


def test_a_timeout_counts_down_and_a_ban_closes_the_socket(live_daphne, transactional_db, new_page):
    room = RoomFactory()
    moderator, viewer = UserFactory(), UserFactory()
    RoomModerator.objects.create(room=room, user=moderator)
    path = f"/rooms/{room.slug}/"
    page = new_page()
    sign_in(page, live_daphne, username=viewer.username, next_path=path)
    wait_connected(page)
    page.fill("#chat-input", "hi chat")
    page.click("#chat-send")
    expect(page.locator(f"{MESSAGES} .chat-text")).to_have_text(["hi chat"], timeout=WAIT_MS)

    moderation_apply(room=room, actor=moderator, data={"action": "timeout", "user": viewer.username, "seconds": 125})
    banner = page.locator("#mod-sanction")
    expect(banner).to_be_visible(timeout=WAIT_MS)
    expect(banner).to_contain_text("You are timed out")
    countdown = page.locator("#mod-countdown")
    expect(countdown).to_have_text(re.compile(r"^2m 0[0-5]s left$"))
    first = int(countdown.get_attribute("data-seconds"))
    expect(countdown).not_to_have_attribute("data-seconds", str(first), timeout=WAIT_MS)  # it ticks
    expect(page.locator("#chat-input")).to_be_disabled()
    # The server refuses a send that goes around the page, with `until`.
    page.evaluate(
        "window.chatterClient.socket().send(JSON.stringify({type: 'send', text: 'sneaky', client_id: 'sneak-1'}))"
    )
    expect(page.locator("#chat-notice")).to_have_attribute("data-code", "timed_out", timeout=WAIT_MS)
    page.screenshot(path=str(SCREENSHOTS / "timed-out-viewer.png"))

    moderation_apply(room=room, actor=moderator, data={"action": "ban", "user": viewer.username})
    expect(page.locator("#chat-status")).to_have_attribute("data-state", "banned", timeout=WAIT_MS)
    expect(banner).to_contain_text("You are banned from this chat")
    assert page.evaluate("window.chatterClient.isBanned() && window.chatterClient.socket() === null")
    expect(page.locator("#chat-input")).to_be_disabled()
    # Coming back: the page knows at once, and the socket is closed again by the server.
    page.reload()
    expect(page.locator("#mod-sanction")).to_contain_text("You are banned from this chat")
    expect(page.locator("#chat-status")).to_have_attribute("data-state", "banned", timeout=WAIT_MS)
    page.screenshot(path=str(SCREENSHOTS / "banned-viewer.png"))

    moderation_apply(room=room, actor=moderator, data={"action": "unban", "user": viewer.username})
    page.reload()
    wait_connected(page)
    assert page.locator("#mod-sanction").count() == 0
    expect(page.locator("#chat-input")).to_be_enabled()
