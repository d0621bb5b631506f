"""The pages a newcomer and a moderator see, at 1366×900 in headless Chromium against a real Daphne:
no horizontal scrollbar, no 404 among the page's requests, and what each page promises is there.
Screenshots go to $CHATTER_SCREENSHOT_DIR when set (look at them), else the test's tmp dir."""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect
from pydantic import BaseModel

from chat.services import draft_parse, human_draft, message_ingest
from chatter_site.lib.errors import ChatterError
from chatter_site.lib.llm import llm_chat, llm_json
from memory.models import MemoryItem, Narrative
from tests.factories import RoomFactory, UserFactory, bot_draft
from tests.personas.factories import PersonaFactory, RosterEntryFactory

pytestmark = pytest.mark.browser


class _Note(BaseModel):
    text: str

PASSWORD = "correct-horse-battery"
WAIT_MS = 15_000
VIEWPORT = {"width": 1366, "height": 900}


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    yield page
    context.close()
    assert not script_errors, f"uncaught errors in the page: {script_errors}"


class Visit:
    """Opens pages, records every response the page gets, and checks the layout."""

    def __init__(self, page: Page, base_url: str, shots: Path) -> None:
        self.page, self.base_url, self.shots = page, base_url, shots
        self.missing: list[str] = []
        page.on("response", lambda response: self.missing.append(response.url) if response.status == 404 else None)

    def open(self, path: str, name: str) -> None:
        self.missing.clear()
        self.page.goto(self.base_url + path)
        self.page.wait_for_load_state("networkidle")

    def check(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)
        overflow = self.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: {overflow}px wider than the 1366px window (a horizontal scrollbar)"
        assert not self.missing, f"{name}: requests answered 404: {self.missing}"

    def check_results_table(self, name: str) -> None:
        """A changelist's table fits its column beside the filters (no scrolling inside it)."""
        self.check(name)
        clipped = self.page.evaluate("(box => box.scrollWidth - box.clientWidth)(document.querySelector('#changelist .results'))")
        assert clipped <= 0, f"{name}: the table is {clipped}px wider than its column beside the filters"


def test_the_room_profile_persona_and_admin_pages_fit_1366px_and_request_nothing_missing(
    live_daphne, transactional_db, llm_server, page: Page, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("CHATTER_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    moderator = UserFactory(is_staff=True, is_superuser=True, username="mod_nina")
    room = RoomFactory(slug="speedrun", title="Speedrun night")
    personas = [
        PersonaFactory(handle=handle, bio=bio, emotes=["Pog", "catJAM"])
        for handle, bio in (
            ("framedatafelix", "Counts frames for fun and corrects everyone's splits."),
            ("hypetrainhank", "Believes every run is the world record run."),
            ("lore_goblin", "Knows the backstory of every boss and will tell you."),
        )
    ]
    for persona in personas:
        RosterEntryFactory(room=room, persona=persona, extra_style="keeps it short; never uses caps except for Pog")
        for n in range(3):
            message_ingest(draft=draft_parse(bot_draft(room=room, handle=persona.handle, text=f"that split Pog #{n} catJAM")))
    message_ingest(
        draft=human_draft(user=moderator, room_slug=room.slug, text="route notes at https://unlisted.example/notes", client_id="pages-1"),
        user=moderator,
    )
    for n in range(4):
        MemoryItem.objects.create(
            scope=f"room:{room.slug}|agent:framedatafelix", room_slug=room.slug, handle="framedatafelix",
            kind=MemoryItem.Kind.RELATIONSHIP, other_user=moderator.username,
            text=f"{moderator.username} and framedatafelix argue about frame-perfect inputs on level {n}, at length.",
            dedupe_key=f"pages-{n}",
        )
    Narrative.objects.create(
        subject_type="persona", subject_key="lore_goblin", source_count=4, generated_at=timezone.now(),
        text="I am lore_goblin. I know the backstory of every boss in this game and I will tell you about it, "
        "whether you asked or not; chat calls me a walking wiki and I take it as a compliment. " * 3,
    )
    visit = Visit(page, live_daphne, shots)

    page.goto(f"{live_daphne}/accounts/login/?next=/rooms/{room.slug}/")
    page.fill("#id_username", moderator.username)
    page.fill("#id_password", PASSWORD)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_url(f"{live_daphne}/rooms/{room.slug}/")

    visit.open(f"/rooms/{room.slug}/", "room")
    expect(page.locator("#chat-status")).to_have_text(re.compile(r"\bconnected\b"))
    flag = page.locator(".chat-message.is-flagged .chat-flag").first
    expect(flag).to_have_attribute("title", re.compile("outside the room's list of allowed sites"))
    visit.check("room")

    visit.open("/me/", "me")
    # No worker runs here: the story stays "being written" (204) until one writes it.
    expect(page.locator("#narrative-status")).to_contain_text("being written")
    visit.check("me")

    visit.open("/personas/framedatafelix/", "persona")
    expect(page.locator("[data-testid=persona-bio]")).to_contain_text("Counts frames for fun")
    assert page.locator("#persona-lines .emote").count() >= 6
    expect(page.locator("#narrative")).not_to_have_attribute("data-state", "loading")
    visit.check("persona")

    visit.open(f"/admin/chat/room/{room.pk}/change/", "admin-room")
    visit.check("admin-room")
    visit.open(f"/admin/personas/persona/{personas[0].pk}/change/", "admin-persona")
    visit.check("admin-persona")
    visit.open("/admin/memory/memoryitem/", "admin-memory-items")
    visit.check_results_table("admin-memory-items")
    visit.open("/admin/memory/narrative/", "admin-narratives")
    expect(page.locator("#result_list")).to_contain_text("lore_goblin")
    visit.check_results_table("admin-narratives")
    visit.open("/admin/", "admin-index")
    expect(page.locator("#content-main")).to_contain_text("Conversation memories")
    expect(page.locator("#llm-link a")).to_have_attribute("href", "/admin/llm/")
    visit.check("admin-index")

    # The LLM page: a format fallback and a failure, recorded in Redis by this process, shown by Daphne.
    llm_server.set_mode(refuse_formats=("json_schema",), refuse_status=400)
    llm_json(messages=[{"role": "user", "content": "remember that nina likes speedruns"}], schema=_Note, purpose="pages")
    llm_server.set_mode(fail_status=500)
    with pytest.raises(ChatterError):
        llm_chat(messages=[{"role": "user", "content": "hi"}], purpose="pages")
    llm_server.set_mode()
    visit.open("/admin/llm/", "admin-llm")
    expect(page.locator("#llm-failures")).to_contain_text("LLM endpoint answered HTTP 500")
    expect(page.locator("#llm-formats")).to_contain_text("json_object")
    visit.check("admin-llm")

