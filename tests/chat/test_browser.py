"""The room page in headless Chromium against a real Daphne, PostgreSQL and Redis (SPEC 4.3, 5)."""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from chat.services import draft_parse, message_ingest, user_color
from tests.factories import RoomFactory, UserFactory, bot_draft

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"
WAIT_MS = 30_000  # a deadline for a loaded 2-core machine: a passing wait returns at once
MESSAGES = "#chat-messages .chat-message"


def sign_in(page: Page, base_url: str, *, username: str, next_path: str) -> None:
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")


def wait_connected(page: Page) -> None:
    expect(page.locator("#chat-status")).to_have_text(re.compile(r"\bconnected\b"), timeout=WAIT_MS)


def hex_to_rgb(color: str) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def test_it_shows_a_message_with_html_as_text_to_another_viewer(live_daphne, transactional_db, new_page):
    room = RoomFactory()
    user = UserFactory()
    room_path = f"/rooms/{room.slug}/"
    hostile = '<b>bold</b><script>window.pwned=1</script><img src=x onerror="window.pwned=1">'

    sender = new_page()
    sign_in(sender, live_daphne, username=user.username, next_path=room_path)
    wait_connected(sender)
    viewer = new_page()
    viewer.goto(live_daphne + room_path)
    wait_connected(viewer)

    sender.fill("#chat-input", hostile)
    sender.click("#chat-send")

    shown = viewer.locator(MESSAGES).filter(has=viewer.locator(".chat-author", has_text=user.username))
    expect(shown).to_have_count(1, timeout=WAIT_MS)
    assert shown.locator(".chat-text").text_content() == hostile
    assert viewer.locator("#chat-messages b, #chat-messages img, #chat-messages script").count() == 0
    author = shown.locator(".chat-author")
    assert author.text_content() == user.username
    assert author.evaluate("node => getComputedStyle(node).color") == hex_to_rgb(user_color(user_id=user.pk))
    # The sender sees its own message come back (the ack), escaped the same way.
    expect(sender.locator(MESSAGES).locator(".chat-text")).to_have_text([hostile], timeout=WAIT_MS)
    for page in (sender, viewer):
        assert page.evaluate("typeof window.pwned") == "undefined"


def test_it_refuses_posting_for_anonymous_viewers(live_daphne, transactional_db, new_page):
    room = RoomFactory()
    page = new_page()

    page.goto(f"{live_daphne}/rooms/{room.slug}/")
    wait_connected(page)

    assert page.locator("#chat-input").count() == 0
    assert page.locator("#chat-send").count() == 0
    sign_in_link = page.locator("#chat-signin")
    expect(sign_in_link).to_be_visible()
    expect(sign_in_link).to_have_text("Sign in to chat")
    assert sign_in_link.get_attribute("href") == f"/accounts/login/?next=/rooms/{room.slug}/"


def test_it_keeps_order_and_catches_up_after_reconnect(live_daphne, transactional_db, new_page):
    room = RoomFactory()
    total, before_drop = 30, 10
    page = new_page()
    page.goto(f"{live_daphne}/rooms/{room.slug}/")
    wait_connected(page)

    for i in range(before_drop):
        message_ingest(draft=draft_parse(bot_draft(room=room, text=f"line {i}")))
    expect(page.locator(MESSAGES)).to_have_count(before_drop, timeout=WAIT_MS)

    page.evaluate("window.firstSocket = window.chatterClient.socket(); window.firstSocket.close()")
    for i in range(before_drop, total):
        message_ingest(draft=draft_parse(bot_draft(room=room, text=f"line {i}")))

    expect(page.locator(MESSAGES)).to_have_count(total, timeout=WAIT_MS)
    wait_connected(page)
    seqs = [int(seq) for seq in page.locator(MESSAGES).evaluate_all("nodes => nodes.map(n => n.dataset.seq)")]
    assert seqs == sorted(set(seqs)), f"seqs out of order or duplicated: {seqs}"
    assert seqs == list(range(seqs[0], seqs[0] + total))
    texts = page.locator(f"{MESSAGES} .chat-text").all_text_contents()
    assert texts == [f"line {i}" for i in range(total)]
    assert page.evaluate("window.chatterClient.lastSeq()") == seqs[-1]
    assert page.evaluate("window.chatterClient.socket() !== window.firstSocket"), "the page never reconnected"


def test_it_caps_the_message_list_and_offers_a_jump_to_new_messages(live_daphne, transactional_db, new_page):
    room = RoomFactory()
    cap, total = 300, 340
    page = new_page()
    page.goto(f"{live_daphne}/rooms/{room.slug}/")
    wait_connected(page)

    for i in range(total - 10):
        message_ingest(draft=draft_parse(bot_draft(room=room, text=f"line {i} KEKW")))
    last_text = page.locator(f"{MESSAGES} .chat-text").last
    expect(last_text).to_have_text(f"line {total - 11} ", timeout=WAIT_MS)
    expect(page.locator(MESSAGES)).to_have_count(cap)
    assert page.locator(f"{MESSAGES} .emote").first.get_attribute("alt") == "KEKW"

    # Reading at the top: the older lines come back (scrollback) and new ones do not move the reader.
    page.locator("#chat-messages").evaluate("node => { node.scrollTop = 0; }")
    expect(page.locator(MESSAGES)).to_have_count(total - 10, timeout=WAIT_MS)
    reading = page.locator(f"{MESSAGES}[data-seq=\"31\"]")  # the line that was on top
    top_before = reading.evaluate("node => node.getBoundingClientRect().top")
    for i in range(total - 10, total):
        message_ingest(draft=draft_parse(bot_draft(room=room, text=f"line {i} KEKW")))
    pill = page.locator("#chat-new-pill")
    expect(pill).to_be_visible(timeout=WAIT_MS)
    expect(last_text).to_have_text(f"line {total - 1} ")
    expect(page.locator(MESSAGES)).to_have_count(total)
    assert abs(reading.evaluate("node => node.getBoundingClientRect().top") - top_before) < 2, "scrolled away from the reader"

    pill.click()
    expect(pill).to_be_hidden()
    assert page.locator("#chat-messages").evaluate(
        "node => node.scrollHeight - node.scrollTop - node.clientHeight < 40"
    )
    expect(page.locator(MESSAGES)).to_have_count(cap)  # back at the bottom, the list is capped again


def test_it_fills_a_gap_left_by_a_lost_broadcast(live_daphne, transactional_db, new_page):
    room = RoomFactory()
    page = new_page()
    sent_by_page: list[dict] = []
    lost_seq = 2
    lost: list[int] = []  # the live broadcast of lost_seq is lost once; the resume must bring it

    def lose_one_message(ws) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            sent_by_page.append(json.loads(message))
            server.send(message)

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "messages" and not lost:
                kept = [item for item in frame["items"] if item["seq"] != lost_seq]
                if len(kept) < len(frame["items"]):
                    lost.append(lost_seq)
                    if not kept:
                        return
                    message = json.dumps({**frame, "items": kept})
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    page.route_web_socket(re.compile(r"/ws/rooms/"), lose_one_message)
    page.goto(f"{live_daphne}/rooms/{room.slug}/")
    wait_connected(page)

    for i in range(3):
        message_ingest(draft=draft_parse(bot_draft(room=room, text=f"line {i}")))

    expect(page.locator(f"{MESSAGES} .chat-text")).to_have_text(["line 0", "line 1", "line 2"], timeout=WAIT_MS)
    seqs = page.locator(MESSAGES).evaluate_all("nodes => nodes.map(n => Number(n.dataset.seq))")
    assert seqs == [1, 2, 3]
    assert lost == [lost_seq], "the broadcast was never intercepted"
    assert {"type": "resume", "after_seq": lost_seq - 1} in sent_by_page


def test_it_signs_up_a_new_viewer(live_daphne, transactional_db, new_page, django_user_model):
    page = new_page()
    page.goto(f"{live_daphne}/accounts/signup/")

    page.fill("#id_username", "fresh_viewer")
    page.fill("#id_password1", "a-long-unusual-passphrase-42")
    page.fill("#id_password2", "a-long-unusual-passphrase-42")
    page.click("form.auth-form button[type=submit]")

    page.wait_for_url(f"{live_daphne}/")
    expect(page.locator(".account-name")).to_contain_text("fresh_viewer")
    expect(page.locator("form.logout-form button")).to_have_text("Sign out")
    assert django_user_model.objects.filter(username="fresh_viewer").exists()
