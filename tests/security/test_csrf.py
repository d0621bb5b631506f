"""CSRF on every form: a session-authenticated POST without the token is refused on every route,
and every POST form the project renders carries the token."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client

from tests.security.urlmap import routes

pytestmark = pytest.mark.django_db


class PostForms(HTMLParser):
    """Collects each `<form method="post">` and whether a csrfmiddlewaretoken input is inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._open: dict | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._open = {"action": attributes.get("action", ""), "post": attributes.get("method", "get").lower() == "post", "token": False}
            self.forms.append(self._open)
        elif tag == "input" and self._open is not None and attributes.get("name") == "csrfmiddlewaretoken":
            self._open["token"] = bool(attributes.get("value")) and attributes.get("type") == "hidden"

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def _post_forms(html: str) -> list[dict]:
    parser = PostForms()
    parser.feed(html)
    return [form for form in parser.forms if form["post"]]


def _csrf_client(user=None) -> Client:
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def test_it_refuses_a_post_without_the_csrf_token_on_every_route(samples, staff) -> None:
    """No view is csrf_exempt: a moderator's session cannot be ridden by another site's form."""
    client = _csrf_client(staff)
    accepted = []
    for route in routes():
        url = route.url(samples)
        response = client.post(url, data={"title": "forged", "enabled": "on"})
        if response.status_code != 403 or b"CSRF" not in response.content:
            accepted.append(f"POST {url} ({route.name}) -> {response.status_code}")
    assert accepted == [], "POSTs without a CSRF token got through:\n" + "\n".join(accepted)
    assert client.get("/me/").status_code == 200  # still signed in: the forged logout was refused too


def test_it_refuses_a_json_api_post_without_the_csrf_header(samples, staff) -> None:
    client = _csrf_client(staff)
    response = client.post("/api/scribe/start", data={"room": samples["slug"], "title": "forged"}, content_type="application/json")
    assert response.status_code == 403
    token_page = client.get("/scribe/start/")
    token = token_page.cookies["csrftoken"].value
    response = client.post(
        "/api/scribe/start", data={"room": samples["slug"], "title": "with the header"}, content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 201


def test_it_accepts_the_sign_in_and_sign_up_forms_with_their_token(viewer) -> None:
    client = _csrf_client()
    page = client.get("/accounts/login/")
    (form,) = [form for form in _post_forms(page.content.decode()) if "login" in form["action"] or form["action"] == ""]
    assert form["token"]
    token = page.cookies["csrftoken"].value
    refused = client.post("/accounts/login/", {"username": viewer.username, "password": "correct-horse-battery"})
    assert refused.status_code == 403
    signed_in = client.post(
        "/accounts/login/", {"username": viewer.username, "password": "correct-horse-battery", "csrfmiddlewaretoken": token}
    )
    assert signed_in.status_code == 302

    newcomer = _csrf_client()
    page = newcomer.get("/accounts/signup/")
    assert all(form["token"] for form in _post_forms(page.content.decode()))
    fields = {"username": "csrf_newcomer", "password1": "a-long-pass-phrase-42", "password2": "a-long-pass-phrase-42"}
    assert newcomer.post("/accounts/signup/", fields).status_code == 403
    fields["csrfmiddlewaretoken"] = page.cookies["csrftoken"].value
    assert newcomer.post("/accounts/signup/", fields).status_code == 302


def test_it_puts_the_csrf_token_in_every_post_form(samples, staff) -> None:
    """Every page of the project, rendered for a moderator (who sees the most forms) and a visitor."""
    from chat.models import Room
    from personas.models import Persona

    room = Room.objects.get(slug=samples["slug"])
    persona = Persona.objects.get(handle=samples["handle"])
    extra = [
        f"/admin/chat/room/{room.pk}/change/",
        f"/admin/chat/room/{room.pk}/delete/",
        f"/admin/personas/persona/{persona.pk}/change/",
        f"/admin/personas/persona/{persona.pk}/preview/",
        f"/admin/auth/user/{staff.pk}/password/",
        f"/scribe/start/?room={room.slug}",
    ]
    missing, with_forms = [], set()
    for who, client in (("visitor", _csrf_client()), ("moderator", _csrf_client(staff))):
        for url in [route.url(samples) for route in routes()] + extra:
            response = client.get(url)
            if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                continue
            for form in _post_forms(response.content.decode()):
                with_forms.add(url.split("?")[0])
                if not form["token"]:
                    missing.append(f"{who} {url}: form action={form['action']!r}")
    assert missing == [], "POST forms without a CSRF token:\n" + "\n".join(missing)
    expected = {
        "/accounts/login/",
        "/accounts/signup/",
        "/admin/login/",
        "/admin/chat/room/add/",
        f"/admin/chat/room/{room.pk}/change/",
        f"/admin/chat/room/{room.pk}/delete/",
        "/admin/password_change/",
        "/scribe/start/",
        f"/scribe/{samples['key']}/",
        f"/scribe/{samples['key']}/edit/",
        f"/scribe/{samples['key']}/v{samples['version']}/",
        f"/rooms/{room.slug}/",
    }
    assert expected <= with_forms, f"pages expected to hold a POST form did not: {sorted(expected - with_forms)}"
