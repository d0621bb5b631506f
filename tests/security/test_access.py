"""Staff-only admin and staff APIs, tried as an anonymous visitor and as a plain signed-in viewer.

Every route of the resolver is requested (GET and POST) with parameters naming real objects; a
staff route must answer 302 to a login page, 401, 403 or 405 (for the other method), never 200 or
500. A route nobody classified fails the sweep.
"""
from __future__ import annotations

import pytest
from django.test import Client

from tests.security.urlmap import LOOPBACK_OR_TOKEN, PUBLIC, SIGNED_IN, STAFF, routes

pytestmark = pytest.mark.django_db

LOGIN_PATHS = ("/admin/login/", "/accounts/login/")
REFUSED = {401, 403, 405}


def _client(user=None) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def _refused(response) -> bool:
    if response.status_code == 302:
        return response["Location"].startswith(LOGIN_PATHS)
    return response.status_code in REFUSED


def test_it_classifies_every_url() -> None:
    unclassified = [route.name for route in routes() if route.access is None]
    assert unclassified == [], (
        "classify these routes in tests/security/urlmap.py (public, signed-in or staff): " + ", ".join(unclassified)
    )


@pytest.mark.parametrize("who", ["anonymous", "viewer"])
def test_it_refuses_every_staff_route_to_non_staff(who, samples, viewer) -> None:
    client = _client(viewer if who == "viewer" else None)
    leaks = []
    staff_routes = [route for route in routes() if route.access == STAFF]
    assert len(staff_routes) > 100  # the whole admin, the scribe's controls, reflection status
    for route in staff_routes:
        url = route.url(samples)
        get = client.get(url)
        post = client.post(url, data="{}", content_type="application/json")
        for method, response in (("GET", get), ("POST", post)):
            if not _refused(response):
                leaks.append(f"{method} {url} ({route.name}) -> {response.status_code}")
        if get.status_code == 405 and post.status_code == 405:
            leaks.append(f"{url} ({route.name}) answered 405 to both methods: nothing was checked")
    assert leaks == [], f"{who} reached staff routes:\n" + "\n".join(leaks)
    if who == "viewer":  # the viewer was refused as a viewer, not as a visitor signed out on the way
        assert client.get("/me/").status_code == 200


def test_it_names_the_staff_apis_in_the_sweep() -> None:
    staff_names = {route.name for route in routes() if route.access == STAFF}
    assert {
        "memory-reflection-status",
        "scribe-api-start",
        "scribe-api-toggle",
        "scribe-api-edit",
        "scribe-api-restore",
        "scribe-start",
        "scribe-toggle",
        "scribe-edit",
        "scribe-restore",
        "admin:personas_persona_activity",
        "admin:personas_persona_preview",
        "admin:personas_persona_changelist",
        "admin:memory_reflectionjob_dead_letters",
        "admin:index",
    } <= staff_names


def test_it_sends_anonymous_visitors_of_signed_in_pages_to_sign_in(samples, viewer) -> None:
    for route in [route for route in routes() if route.access == SIGNED_IN]:
        url = route.url(samples)
        anonymous = _client().get(url)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/"), url
        assert _client(viewer).get(url).status_code == 200, url


@pytest.mark.parametrize("who", ["anonymous", "viewer"])
def test_it_serves_public_routes_without_errors(who, samples, viewer) -> None:
    client = _client(viewer if who == "viewer" else None)
    for route in [route for route in routes() if route.access == PUBLIC]:
        url = route.url(samples)
        response = client.get(url)
        assert response.status_code < 500, f"GET {url} -> {response.status_code}"
        assert not (response.status_code == 302 and response["Location"].startswith(LOGIN_PATHS)) or route.name in (
            "admin:logout",
        ), f"public {url} asked for a login"


def test_it_gives_metrics_only_to_loopback_or_the_token(settings, samples) -> None:
    (route,) = [route for route in routes() if route.access == LOOPBACK_OR_TOKEN]
    url = route.url(samples)
    settings.METRICS_TOKEN = "metrics-token-for-tests"
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert _client().get(url, **remote).status_code == 403
    assert _client().get(url, HTTP_AUTHORIZATION="Bearer wrong", **remote).status_code == 403
    assert _client().get(url, HTTP_AUTHORIZATION="Bearer metrics-token-for-tests", **remote).status_code == 200
    assert _client().get(url).status_code == 200  # the test client is 127.0.0.1


def test_it_serves_the_staff_routes_to_staff(samples, staff) -> None:
    """The sweep's refusals are about who asks: the same URLs work for a moderator."""
    client = _client(staff)
    for name in ("memory-reflection-status", "scribe-start", "admin:index", "admin:personas_persona_activity"):
        (route,) = [route for route in routes() if route.name == name]
        response = client.get(route.url(samples))
        assert response.status_code == 200, f"{name} -> {response.status_code}"
