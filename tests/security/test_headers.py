"""Security headers on every answer, /api/ errors included, and a CSP that allows no inline script."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory

from chatter_site.lib.api_errors import ApiErrorMiddleware
from tests.security.urlmap import PUBLIC, SIGNED_IN, routes

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _assert_security_headers(response, where: str) -> None:
    for name, value in HEADERS.items():
        assert response.get(name) == value, f"{where}: {name} is {response.get(name)!r}"
    assert "script-src 'self'" in response.get("Content-Security-Policy", ""), where


def test_it_keeps_the_security_headers_on_api_errors():
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    answers = {
        "404": client.get("/api/no-such-thing"),
        "405": Client(raise_request_exception=False).post("/api/rooms"),
        "403 csrf": client.post("/api/scribe/start", "{}", content_type="application/json"),
        "400": client.get("/api/rooms/nowhere/messages?after=x"),
    }
    for where, response in answers.items():
        assert response["Content-Type"].startswith("application/json"), where
        assert "error" in response.json(), where
        _assert_security_headers(response, where)
    assert answers["405"]["Allow"]  # what a client needs to retry right is kept too


def test_it_keeps_cookies_on_an_api_error_answer():
    def refuse(request):
        answer = HttpResponse("nope", status=403)
        answer.set_cookie("sessionid", "rotated")
        return answer

    answer = ApiErrorMiddleware(refuse)(RequestFactory().get("/api/rooms"))
    assert answer.status_code == 403 and answer["Content-Type"] == "application/json"
    assert json.loads(answer.content)["error"]["code"] == "forbidden"
    assert answer.cookies["sessionid"].value == "rotated"


def test_it_sends_the_csp_on_every_page(samples, viewer, staff):
    for who, client in (("anonymous", Client()), ("viewer", Client()), ("staff", Client())):
        if who == "viewer":
            client.force_login(viewer)
        if who == "staff":
            client.force_login(staff)
        for route in routes():
            if route.access not in (PUBLIC, SIGNED_IN) and who != "staff":
                continue
            response = client.get(route.url(samples))
            if response.get("Content-Type", "").startswith("text/html"):
                _assert_security_headers(response, f"{who} {route.name}")


def test_it_has_no_inline_script_or_event_handler_in_any_template():
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and 'type="application/json"' not in tag:
                offenders.append(f"{template.name}: {tag}")
        offenders += [f"{template.name}: {m}" for m in re.findall(r"\son[a-z]+\s*=", text)]
        offenders += [f"{template.name}: javascript: URL" for _ in re.findall(r"javascript:", text)]
    assert offenders == []
