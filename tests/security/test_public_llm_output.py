"""LLM output that reaches the public goes through the moderators' rules first (issue 14, medium 4):
scribe versions and narratives; and a moderator can remove a published scribe version."""
from __future__ import annotations

import pytest
from django.test import Client

from chat.models import BlockedTerm
from chat.selectors import blocked_rules_invalidate
from memory.services.narratives import narrative_hygiene
from scribe import services as scribe_services
from scribe.storage import documents_storage, version_read
from tests.factories import RoomFactory, UserFactory
from tests.scribe.helpers import say

pytestmark = pytest.mark.django_db

BLOCKED = "grapefruitx"


@pytest.fixture
def blocklist():
    BlockedTerm.objects.create(term=BLOCKED, match="word", action="drop")
    BlockedTerm.objects.create(term="kumquat", match="word", action="mask")
    blocked_rules_invalidate()
    yield
    blocked_rules_invalidate()


def test_it_redacts_a_split_phone_number_and_drops_a_blocklisted_line_before_storing_a_scribe_version(
    llm_server, documents_dir, blocklist
):
    room = RoomFactory()
    document = scribe_services.document_start(room_slug=room.slug, title="Factual log", style="factual")
    say(room, "call me at 555 01")
    say(room, "23 4567 if you want the route")
    # A "factual" scribe keeps numbers exact: it joins the two halves, and repeats a blocked word.
    llm_server.set_mode(
        script=[
            "# Factual log\n\n"
            "- narrator_bot shared a number: 555 0123 4567 for the route.\n"
            f"- chat chanted {BLOCKED} for a while.\n"
            "- the kumquat emote came back.\n"
            "  - Nested detail kept as written.\n"
        ]
    )

    report = scribe_services.document_update_run(document_id=document.pk)

    assert [step.version for step in report.applied] == [2]
    document.refresh_from_db()
    revision = document.revisions.get(version=2)
    stored = version_read(key=revision.storage_key, sha256=revision.sha256)
    for text in (document.content, stored, Client().get(f"/api/scribe/{document.pk}").json()["content"]):
        assert "0123 4567" not in text and "555" not in text
        assert "[phone]" in text
        assert BLOCKED not in text and "chanted" not in text
        assert "kumquat" not in text and "emote came back" in text
        assert "  - Nested detail kept as written." in text  # untouched lines keep their Markdown


def test_it_runs_narratives_through_the_blocklist(blocklist):
    text = f"Rex loves speedruns. Rex shouts {BLOCKED} at every boss. Rex hates kumquat jokes."
    assert narrative_hygiene(text) == "Rex loves speedruns. Rex hates ******* jokes."


# --- a moderator removes a published version ----------------------------------------------------------------
def _edited_document(room):
    staff = UserFactory(is_staff=True, is_superuser=True)
    document = scribe_services.document_start(room_slug=room.slug, title="Log", style="factual")
    scribe_services.document_edit(document_id=document.pk, content="# Log\n\nsomething that must go\n", base_version=1, user=staff)
    scribe_services.document_edit(document_id=document.pk, content="# Log\n\ncleaned up\n", base_version=2, user=staff)
    return document, staff


def test_it_lets_a_moderator_remove_a_published_version_for_good(documents_dir):
    document, staff = _edited_document(RoomFactory())
    revision = document.revisions.get(version=2)
    moderator = Client()
    moderator.force_login(staff)

    response = moderator.post(
        f"/api/scribe/{document.pk}/redact", {"version": 2, "reason": "doxxing"}, content_type="application/json"
    )

    assert response.status_code == 200 and response.json()["redacted"] is True
    assert not documents_storage().exists(revision.storage_key)
    public = Client()
    assert public.get(f"/api/scribe/{document.pk}/revisions/2").status_code == 410
    page = public.get(f"/scribe/{document.slug}/v2/")
    assert page.status_code == 410 and "removed by a moderator" in page.content.decode()
    assert "something that must go" not in public.get(f"/scribe/{document.slug}/").content.decode()
    listed = {r["version"]: r["redacted"] for r in public.get(f"/api/scribe/{document.pk}/revisions").json()}
    assert listed == {1: False, 2: True, 3: False}
    restore = moderator.post(f"/api/scribe/{document.pk}/restore", {"version": 2}, content_type="application/json")
    assert restore.status_code == 410  # a removed version cannot come back through a restore


def test_it_refuses_removal_to_viewers_and_of_the_current_version(documents_dir):
    document, staff = _edited_document(RoomFactory())
    viewer = Client()
    viewer.force_login(UserFactory())
    assert viewer.post(f"/api/scribe/{document.pk}/redact", {"version": 2}, content_type="application/json").status_code == 403
    moderator = Client()
    moderator.force_login(staff)
    current = moderator.post(f"/api/scribe/{document.pk}/redact", {"version": 3}, content_type="application/json")
    assert current.status_code == 400 and "edit it first" in current.json()["error"]["detail"]
    assert document.revisions.get(version=2).redacted_at is None


def test_it_removes_a_version_from_the_revision_page(documents_dir):
    document, staff = _edited_document(RoomFactory())
    moderator = Client()
    moderator.force_login(staff)
    page = moderator.get(f"/scribe/{document.slug}/v2/").content.decode()
    assert 'id="scribe-redact"' in page
    response = moderator.post(f"/scribe/{document.slug}/v2/redact/", {"reason": "personal data"})
    assert response.status_code == 302
    revision = document.revisions.get(version=2)
    assert revision.redacted_at is not None and revision.redacted_by == staff and revision.redaction_reason == "personal data"
