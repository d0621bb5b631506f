"""The scribe's JSON API and pages (SPEC 4.4): permissions, CSRF, validation, stale edits, restore."""
from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from scribe import services
from scribe.models import ScribeDocument
from scribe.prompts import PLACEHOLDER
from tests.factories import RoomFactory, UserFactory
from tests.scribe.helpers import say

pytestmark = pytest.mark.django_db


def client_for(user=None, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    if user is not None:
        client.force_login(user)
    return client


def post_json(client: Client, url: str, data, **extra):
    return client.post(url, data=json.dumps(data), content_type="application/json", **extra)


@pytest.fixture
def room():
    return RoomFactory()


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def runner():
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="add_scribedocument", content_type__app_label="scribe"))
    return user


@pytest.fixture
def document(room):
    return services.document_start(room_slug=room.slug, title="Chat chronicle", style="factual")


# --- start --------------------------------------------------------------------------------------
def test_it_starts_a_scribe_with_version_one(staff, room):
    response = post_json(client_for(staff), "/api/scribe/start", {"room": room.slug, "title": "Chat chronicle", "style": "factual"})

    assert response.status_code == 201
    body = response.json()
    assert body["title"] == "Chat chronicle" and body["style"] == "factual" and body["room"] == room.slug
    assert body["version"] == 1 and body["enabled"] is True and body["status"] == "idle"
    assert body["content"] == f"# Chat chronicle\n\n{PLACEHOLDER}\n"
    assert body["slug"] == "chat-chronicle" and body["cursor_seq"] == room.last_seq
    document = ScribeDocument.objects.get(pk=body["id"])
    assert document.created_by == staff and document.revisions.get().kind == "start"


def test_it_lets_a_user_with_the_scribe_permission_start(runner, room):
    response = post_json(client_for(runner), "/api/scribe/start", {"room": room.slug, "title": "Mine", "style": "literary"})
    assert response.status_code == 201


@pytest.mark.parametrize("who", ["anonymous", "viewer"])
def test_it_refuses_to_start_for_users_without_permission(who, room):
    user = None if who == "anonymous" else UserFactory()
    response = post_json(client_for(user), "/api/scribe/start", {"room": room.slug, "title": "No", "style": "factual"})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert not ScribeDocument.objects.exists()


def test_it_requires_the_csrf_token(staff, room):
    client = client_for(staff, csrf=True)
    refused = post_json(client, "/api/scribe/start", {"room": room.slug, "title": "T", "style": "factual"})
    assert refused.status_code == 403

    client.get(f"/rooms/{room.slug}/")
    token = client.cookies["csrftoken"].value
    accepted = post_json(client, "/api/scribe/start", {"room": room.slug, "title": "T", "style": "factual"}, HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201


@pytest.mark.parametrize(
    "data, code, status",
    [
        ({"title": "T", "style": "factual"}, "invalid", 400),
        ({"room": "no-such-room", "title": "T", "style": "factual"}, "not_found", 404),
        ({"room": "ROOM", "title": "  ", "style": "factual"}, "invalid", 400),
        ({"room": "ROOM", "title": "x" * 121, "style": "factual"}, "invalid", 400),
        ({"room": "ROOM", "title": "T", "style": "gothic"}, "invalid", 400),
        ({"room": "ROOM", "title": 5, "style": "factual"}, "invalid", 400),
    ],
)
def test_it_refuses_a_bad_start_with_a_clear_error(staff, room, data, code, status):
    data = {key: room.slug if value == "ROOM" else value for key, value in data.items()}
    response = post_json(client_for(staff), "/api/scribe/start", data)
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert response.json()["error"]["detail"]


def test_it_refuses_a_body_that_is_not_json(staff):
    response = client_for(staff).post("/api/scribe/start", data="room=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400


def test_it_gives_each_document_a_unique_slug_and_a_safe_header(staff, room):
    first = services.document_start(room_slug=room.slug, title="### Same\ntitle", style="factual")
    second = services.document_start(room_slug=room.slug, title="Same title", style="factual")
    numeric = services.document_start(room_slug=room.slug, title="2024", style="factual")

    assert first.content.startswith("# Same title\n") and first.slug == "same-title"
    assert second.slug.startswith("same-title-") and second.slug != first.slug
    assert numeric.slug == "scribe-2024"


# --- detail and toggle ----------------------------------------------------------------------------
def test_it_shows_a_document(document):
    body = client_for().get(f"/api/scribe/{document.pk}").json()
    assert set(body) >= {"id", "slug", "title", "style", "content", "version", "updated_at", "enabled", "cursor_seq", "status"}
    assert body["id"] == document.pk and body["version"] == 1 and body["updated_at"].endswith("Z")
    assert client_for().get("/api/scribe/999999").status_code == 404


def test_it_stops_and_restarts_from_now(staff, document, room):
    client = client_for(staff)
    stopped = post_json(client, f"/api/scribe/{document.pk}/toggle", {"enabled": False})
    assert stopped.status_code == 200 and stopped.json()["enabled"] is False
    missed = say(room, "said while the scribe was stopped")

    restarted = post_json(client, f"/api/scribe/{document.pk}/toggle", {"enabled": True, "catch_up": False})

    assert restarted.json()["enabled"] is True and restarted.json()["cursor_seq"] == missed.seq


def test_it_restarts_with_catch_up_by_default(staff, document, room):
    client = client_for(staff)
    post_json(client, f"/api/scribe/{document.pk}/toggle", {"enabled": False})
    say(room, "said while the scribe was stopped")

    restarted = post_json(client, f"/api/scribe/{document.pk}/toggle", {"enabled": True})

    assert restarted.json()["cursor_seq"] == document.cursor_seq


def test_it_refuses_a_toggle_without_permission_or_with_a_bad_body(document, staff):
    assert post_json(client_for(UserFactory()), f"/api/scribe/{document.pk}/toggle", {"enabled": False}).status_code == 403
    bad = post_json(client_for(staff), f"/api/scribe/{document.pk}/toggle", {"enabled": "no"})
    assert bad.status_code == 400 and "enabled" in bad.json()["error"]["detail"]
    document.refresh_from_db()
    assert document.enabled is True


# --- manual edits, revisions, restore -----------------------------------------------------------------
def test_it_saves_a_moderators_edit_as_a_new_version(staff, document):
    response = post_json(
        client_for(staff), f"/api/scribe/{document.pk}/edit", {"content": "# Chat chronicle\n\nHand written.\n", "base_version": 1}
    )
    assert response.status_code == 200
    assert response.json()["version"] == 2 and "Hand written." in response.json()["content"]


def test_it_refuses_a_stale_edit_with_409_and_a_clear_message(staff, document):
    client = client_for(staff)
    post_json(client, f"/api/scribe/{document.pk}/edit", {"content": "# Chat chronicle\n\nFirst.\n", "base_version": 1})

    stale = post_json(client, f"/api/scribe/{document.pk}/edit", {"content": "# Chat chronicle\n\nSecond.\n", "base_version": 1})

    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale"
    assert "you edited version 1, it is now version 2" in stale.json()["error"]["detail"]
    assert "First." in client.get(f"/api/scribe/{document.pk}").json()["content"]


def test_it_refuses_an_edit_without_the_edit_permission(runner, document):
    response = post_json(client_for(runner), f"/api/scribe/{document.pk}/edit", {"content": "# x\n", "base_version": 1})
    assert response.status_code == 403


def test_it_lists_revisions_and_restores_one(staff, document):
    client = client_for(staff)
    post_json(client, f"/api/scribe/{document.pk}/edit", {"content": "# Chat chronicle\n\nEdited.\n", "base_version": 1})

    revisions = client.get(f"/api/scribe/{document.pk}/revisions").json()
    assert [(r["version"], r["kind"]) for r in revisions] == [(2, "edit"), (1, "start")]
    assert revisions[0]["created_by"] == staff.username and len(revisions[0]["sha256"]) == 64
    old = client.get(f"/api/scribe/{document.pk}/revisions/1").json()
    assert old["content"] == f"# Chat chronicle\n\n{PLACEHOLDER}\n"

    restored = post_json(client, f"/api/scribe/{document.pk}/restore", {"version": 1, "base_version": 2})
    assert restored.status_code == 200
    assert restored.json()["version"] == 3 and restored.json()["content"] == old["content"]
    stale = post_json(client, f"/api/scribe/{document.pk}/restore", {"version": 2, "base_version": 2})
    assert stale.status_code == 409


# --- pages --------------------------------------------------------------------------------------------
def test_it_renders_the_document_page_by_id_and_by_slug(document):
    for key in (document.pk, document.slug):
        page = client_for().get(f"/scribe/{key}/")
        assert page.status_code == 200
        html = page.content.decode()
        assert "<h1>Chat chronicle</h1>" in html and "scribe.js" in html and 'id="scribe-status"' in html
        assert "Stop the scribe" not in html  # anonymous viewers see no controls
    assert client_for().get("/scribe/nope/").status_code == 404


def test_it_never_renders_document_text_as_html(staff, document):
    hostile = '# Chat chronicle\n\n<script>window.pwned=1</script><img src=x onerror="alert(1)">\n'
    services.document_edit(document_id=document.pk, content=hostile, base_version=1)
    html = client_for(staff).get(f"/scribe/{document.slug}/").content.decode()
    assert "<script>window.pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html


def test_it_shows_controls_to_permitted_users(staff, document):
    html = client_for(staff).get(f"/scribe/{document.slug}/").content.decode()
    assert "Stop the scribe" in html and "Edit by hand" in html


def test_it_stops_and_restarts_from_the_page(staff, document):
    client = client_for(staff)
    assert client.post(f"/scribe/{document.slug}/toggle/", {"enabled": "0"}).status_code == 302
    html = client.get(f"/scribe/{document.slug}/").content.decode()
    assert "Start the scribe" in html and "start from now" in html

    client.post(f"/scribe/{document.slug}/toggle/", {"enabled": "1", "catch_up": "0"})
    document.refresh_from_db()
    assert document.enabled is True


def test_it_shows_a_stale_edit_as_a_form_error(staff, document):
    client = client_for(staff)
    form = client.get(f"/scribe/{document.slug}/edit/")
    assert form.status_code == 200 and 'name="base_version" value="1"' in form.content.decode()
    services.document_edit(document_id=document.pk, content="# Chat chronicle\n\nSomeone was faster.\n", base_version=1)

    response = client.post(f"/scribe/{document.slug}/edit/", {"content": "# Chat chronicle\n\nMine.\n", "base_version": "1"})

    assert response.status_code == 409
    html = response.content.decode()
    assert "Your change was not saved" in html and "Someone was faster." in html and "Mine." in html
    document.refresh_from_db()
    assert document.version == 2


def test_it_restores_a_version_from_its_page(staff, document):
    client = client_for(staff)
    services.document_edit(document_id=document.pk, content="# Chat chronicle\n\nEdited.\n", base_version=1)
    page = client.get(f"/scribe/{document.slug}/v1/")
    assert page.status_code == 200 and "Restore this version" in page.content.decode()

    response = client.post(f"/scribe/{document.slug}/v1/restore/", {"base_version": "2"})

    assert response.status_code == 302
    document.refresh_from_db()
    assert document.version == 3 and PLACEHOLDER in document.content


def test_it_shows_the_scribe_panel_on_the_room_page(staff, document, room):
    html = client_for(staff).get(f"/rooms/{room.slug}/").content.decode()
    assert 'id="scribe-panel"' in html and f'href="/scribe/{document.slug}/"' in html and 'id="scribe-start-form"' in html

    anonymous = client_for().get(f"/rooms/{room.slug}/").content.decode()
    assert 'id="scribe-panel"' in anonymous and 'id="scribe-start-form"' not in anonymous


def test_it_starts_a_scribe_from_the_room_panel_form(staff, room):
    response = client_for(staff).post("/scribe/start/", {"room": room.slug, "title": "From the panel", "style": "conversational"})
    document = ScribeDocument.objects.get(title="From the panel")
    assert response.status_code == 302 and response["Location"] == f"/scribe/{document.slug}/"
    assert document.style == "conversational" and document.version == 1
