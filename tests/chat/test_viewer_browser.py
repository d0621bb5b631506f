"""The viewer's chat and the overlay in headless Chromium, against a real Daphne, PostgreSQL and
Redis (SPEC 11): the chatter list, replies, names that open cards, emotes, links, autocomplete,
scrollback, and the OBS overlay."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from chat.models import Message
from chat.services import draft_parse, human_draft, message_ingest
from tests.chat.test_browser import MESSAGES, WAIT_MS, sign_in, wait_connected
from tests.factories import RoomFactory, UserFactory, bot_draft
from tests.personas.factories import PersonaFactory, RosterEntryFactory

pytestmark = pytest.mark.browser

# CHATTER_SCREENSHOTS=dir keeps the screenshots these tests take (docs/screenshots holds the README's).
SHOTS = Path(os.environ.get("CHATTER_SCREENSHOTS", "")) if os.environ.get("CHATTER_SCREENSHOTS") else None


def shot(page: Page, name: str, **kwargs) -> None:
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / name), **kwargs)


def open_chatters(page: Page) -> None:
    page.click("#chatters-toggle")
    expect(page.locator("#chatters-drawer")).to_be_visible()


def test_it_lists_who_joins_and_leaves_with_the_viewer_count(live_daphne, transactional_db, new_page):
    room = RoomFactory()
    RosterEntryFactory(room=room, persona=PersonaFactory(handle="pixelpal", color="#ff7f50"))
    moderator = UserFactory(username="mod_maria", is_staff=True)
    viewer = UserFactory(username="nina_views")
    room_path = f"/rooms/{room.slug}/"

    watcher = new_page()
    watcher.goto(live_daphne + room_path)
    wait_connected(watcher)
    open_chatters(watcher)
    cast = watcher.locator(".chatters-cast .chatter-name")
    expect(cast).to_have_text(["pixelpal"], timeout=WAIT_MS)
    expect(watcher.locator("#chatters-toggle .viewer-count-value")).to_have_text("1")

    joining = new_page()
    sign_in(joining, live_daphne, username=viewer.username, next_path=room_path)
    wait_connected(joining)
    staff = new_page()
    sign_in(staff, live_daphne, username=moderator.username, next_path=room_path)
    wait_connected(staff)

    expect(watcher.locator(".chatters-viewers .chatter-name")).to_have_text(["nina_views"], timeout=WAIT_MS)
    expect(watcher.locator(".chatters-moderators .chatter-name")).to_have_text(["mod_maria"], timeout=WAIT_MS)
    expect(watcher.locator("#chatters-toggle .viewer-count-value")).to_have_text("3", timeout=WAIT_MS)
    expect(watcher.locator(".room-header .viewer-count")).to_contain_text("3 watching")
    assert watcher.locator(".chatters-cast .chatter-name").evaluate("n => getComputedStyle(n).color") == "rgb(255, 127, 80)"
    shot(watcher, "chatters.png")

    joining.close()
    expect(watcher.locator(".chatters-viewers .chatter-name")).to_have_count(0, timeout=WAIT_MS)
    expect(watcher.locator("#chatters-toggle .viewer-count-value")).to_have_text("2", timeout=WAIT_MS)


def test_it_replies_opens_cards_and_renders_emotes_links_and_completions(live_daphne, transactional_db, new_page):
    room = RoomFactory()
    RosterEntryFactory(room=room, persona=PersonaFactory(handle="pixelpal", bio="Speedrun nerd, counts frames."))
    line = message_ingest(draft=draft_parse(bot_draft(room=room, text="that split was clean Pog", handle="pixelpal")))
    user = UserFactory(username="nina")
    room_path = f"/rooms/{room.slug}/"
    page = new_page()
    sign_in(page, live_daphne, username=user.username, next_path=room_path)
    wait_connected(page)

    # Reply to the persona's line.
    persona_line = page.locator(f"{MESSAGES}[data-seq=\"{line.seq}\"]")
    expect(persona_line.locator("img.emote")).to_have_attribute("src", re.compile(r"/static/emotes/Pog\.svg$"))
    persona_line.hover()
    persona_line.locator(".chat-action-reply").click()
    expect(page.locator("#chat-reply")).to_contain_text("Replying to @pixelpal")
    page.fill("#chat-input", "was it though")
    page.press("#chat-input", "Enter")
    # (A session's Celery worker may have pixelpal answer the reply: that answer is a reply too.)
    reply = page.locator(f"{MESSAGES}.is-reply").filter(has=page.locator(".chat-author[data-name='nina']"))
    expect(reply).to_have_count(1, timeout=WAIT_MS)
    expect(reply.locator(".chat-reply-context")).to_contain_text("Replying to @pixelpal")
    expect(reply.locator(".chat-reply-quote")).to_have_text("that split was clean Pog")
    expect(reply.locator(".chat-text")).to_have_text("@pixelpal was it though")
    expect(page.locator("#chat-reply")).to_be_hidden()
    stored = Message.objects.get(room=room, author_name="nina")
    assert stored.reply_to == line.id

    # @-autocomplete from the cast, and the emote picker.
    page.fill("#chat-input", "hey @pix")
    page.locator("#chat-input").dispatch_event("input")
    expect(page.locator("#chat-suggest .chat-suggestion")).to_have_text(["@pixelpal"])
    page.press("#chat-input", "Tab")
    expect(page.locator("#chat-input")).to_have_value("hey @pixelpal ")
    page.click("#emote-picker-toggle")
    page.click("#emote-picker [data-emote='Kappa']")
    expect(page.locator("#chat-input")).to_have_value("hey @pixelpal Kappa ")
    page.type("#chat-input", "see twitch.tv/speedrun and evil.example.com/x")
    page.press("#chat-input", "Enter")
    sent = page.locator(MESSAGES).filter(has_text="see twitch.tv")
    expect(sent).to_have_count(1, timeout=WAIT_MS)
    expect(sent.locator("img.emote[alt='Kappa']")).to_have_count(1)
    link = sent.locator("a.chat-link")
    expect(link).to_have_count(1)  # the allow-listed one only
    assert link.get_attribute("href") == "https://twitch.tv/speedrun"
    assert link.get_attribute("target") == "_blank"
    assert link.get_attribute("rel") == "noopener noreferrer nofollow"
    assert "evil.example.com/x" in sent.locator(".chat-text").text_content()

    # Names open cards: the persona's bio, the person's join date.
    persona_line.locator(".chat-author").click()
    card = page.get_by_test_id("usercard")
    expect(card).to_be_visible()
    expect(card.locator(".usercard-name")).to_have_text("pixelpal")
    expect(card).to_contain_text("Speedrun nerd, counts frames.")
    expect(card.locator(".usercard-narrative")).not_to_have_text("Loading…", timeout=WAIT_MS)
    shot(page, "usercard.png")
    page.keyboard.press("Escape")
    expect(card).to_have_count(0)
    reply.locator(".chat-author").click()
    expect(page.get_by_test_id("usercard")).to_contain_text("Joined")


def test_it_loads_older_messages_when_scrolled_to_the_top(live_daphne, transactional_db, new_page):
    room = RoomFactory()
    total = 120
    for i in range(total):
        message_ingest(draft=draft_parse(bot_draft(room=room, text=f"old line {i}")))
    page = new_page()
    page.goto(f"{live_daphne}/rooms/{room.slug}/")
    wait_connected(page)
    expect(page.locator(MESSAGES)).to_have_count(50)

    def scroll_to_top() -> None:
        page.locator("#chat-messages").evaluate("node => { node.scrollTop = 0; node.dispatchEvent(new Event('scroll')); }")

    scroll_to_top()
    expect(page.locator(MESSAGES)).to_have_count(100, timeout=WAIT_MS)
    # The reader stays where they were: the line that was on top is still in view, older ones above it.
    assert page.locator(MESSAGES).filter(has_text="old line 70").evaluate(
        "n => { const b = n.parentNode.getBoundingClientRect(), r = n.getBoundingClientRect(); return r.top >= b.top - 2 && r.top < b.bottom; }"
    )
    scroll_to_top()
    expect(page.locator(MESSAGES)).to_have_count(total, timeout=WAIT_MS)
    expect(page.locator("#chat-history-edge")).to_have_text("This is the start of the chat.")
    texts = page.locator(f"{MESSAGES} .chat-text").all_text_contents()
    assert texts == [f"old line {i}" for i in range(total)]

    # Back at the bottom, live lines still arrive in order.
    page.locator("#chat-messages").evaluate("node => { node.scrollTop = node.scrollHeight; node.dispatchEvent(new Event('scroll')); }")
    message_ingest(draft=draft_parse(bot_draft(room=room, text="a new line")))
    expect(page.locator(f"{MESSAGES} .chat-text").last).to_have_text("a new line", timeout=WAIT_MS)


def test_the_overlay_is_transparent_large_fading_and_resumes_after_a_reconnect(live_daphne, transactional_db, new_page):
    room = RoomFactory()
    viewer = UserFactory(username="nina")
    say(viewer, room, "first human line Pog")
    message_ingest(draft=draft_parse(bot_draft(room=room, text="bot chatter")))
    page = new_page()
    page.set_viewport_size({"width": 800, "height": 450})
    page.goto(f"{live_daphne}/rooms/{room.slug}/overlay/?font=40&fade=3&bots=0&lines=3")

    lines = page.locator(".overlay-messages .chat-message")
    expect(lines).to_have_count(1, timeout=WAIT_MS)  # the bot's line is hidden
    expect(lines.first.locator("img.emote[alt='Pog']")).to_have_count(1)
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgba(0, 0, 0, 0)"
    assert page.evaluate("getComputedStyle(document.documentElement).backgroundColor") == "rgba(0, 0, 0, 0)"
    assert lines.first.locator(".chat-text").evaluate("n => getComputedStyle(n).fontSize") == "40px"
    assert page.locator("input, textarea, form, button:visible").count() == 0
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight")
    assert page.evaluate("getComputedStyle(document.body).overflow") == "hidden"
    # A screenshot without a page background keeps the pixels around the text transparent.
    image = page.screenshot(omit_background=True)
    corner = page.evaluate(
        """async (bytes) => {
             const blob = new Blob([new Uint8Array(bytes)], {type: 'image/png'});
             const bitmap = await createImageBitmap(blob);
             const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
             const ctx = canvas.getContext('2d'); ctx.drawImage(bitmap, 0, 0);
             return Array.from(ctx.getImageData(5, 5, 1, 1).data);
           }""",
        list(image),
    )
    assert corner[3] == 0, f"the overlay's top-left pixel is not transparent: {corner}"

    # Lines fade out after the configured seconds.
    expect(lines.first).to_have_css("opacity", "0", timeout=WAIT_MS)

    # It reconnects and resumes like the room page, and keeps at most `lines` lines.
    page.evaluate("window.chatterClient.socket().close()")
    for i in range(5):
        say(viewer, room, f"after reconnect {i}")
    expect(page.locator(".overlay-messages .chat-message .chat-text").last).to_have_text("after reconnect 4", timeout=WAIT_MS)
    expect(lines).to_have_count(3)


def say(user, room, text: str) -> None:
    draft = human_draft(user=user, room_slug=room.slug, text=text, client_id=f"c-{text.replace(' ', '-')}")
    message_ingest(draft=draft, user=user, enforce_limits=False)  # a test's burst, not a person typing
