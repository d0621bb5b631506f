"""Sign-in (site and admin) locked out per username and per address; sign-up limited per address."""
from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.SIGNIN_FAILURES_PER_USERNAME = 3
    settings.SIGNIN_FAILURES_PER_ADDRESS = 5
    settings.SIGNIN_LOCKOUT_SECONDS = 600
    settings.SIGNUP_PER_ADDRESS = 2
    # Each attempt hashes a password: the default hasher's million rounds would cost seconds here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _user(**kwargs):
    user = UserFactory(**kwargs)
    user.set_password(PASSWORD)
    user.save()
    return user


def _sign_in(username: str, password: str, *, address: str = "198.51.100.10", path: str = "/accounts/login/"):
    return Client().post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_it_locks_a_username_out_after_repeated_failures_with_a_clear_message():
    user = _user()
    for n in range(3):  # from three addresses: the name is what is being guessed
        assert _sign_in(user.username, "wrong", address=f"198.51.100.{n + 1}").status_code == 200
    refused = _sign_in(user.username, PASSWORD, address="203.0.113.50")  # even the right password
    assert refused.status_code == 429
    text = refused.content.decode()
    assert "Too many failed sign-in attempts" in text and "Try again in 10 minutes" in text
    assert "_auth_user_id" not in refused.wsgi_request.session
    # Another account is not affected.
    other = _user()
    assert _sign_in(other.username, PASSWORD, address="203.0.113.50").status_code == 302


def test_it_locks_an_address_out_after_failures_across_names():
    for n in range(5):
        assert _sign_in(f"guess{n}", "wrong", address="198.51.100.77").status_code == 200
    user = _user()
    assert _sign_in(user.username, PASSWORD, address="198.51.100.77").status_code == 429
    assert _sign_in(user.username, PASSWORD, address="198.51.100.78").status_code == 302


def test_it_clears_a_names_failures_on_a_successful_sign_in():
    user = _user()
    for _ in range(2):
        _sign_in(user.username, "wrong")
    assert _sign_in(user.username, PASSWORD).status_code == 302
    for _ in range(2):
        _sign_in(user.username, "wrong")
    assert _sign_in(user.username, PASSWORD).status_code == 302


def test_it_throttles_the_admin_sign_in_too():
    staff = _user(is_staff=True)
    for _ in range(3):
        _sign_in(staff.username, "wrong", path="/admin/login/")
    refused = _sign_in(staff.username, PASSWORD, path="/admin/login/")
    assert "Too many failed sign-in attempts" in refused.content.decode()
    assert "_auth_user_id" not in refused.wsgi_request.session


def test_it_counts_clients_behind_a_trusted_proxy_by_their_forwarded_address(settings):
    import ipaddress

    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.0/8")]
    for _ in range(5):
        Client().post("/accounts/login/", {"username": "x", "password": "y"}, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.90")
    user = _user()
    client = Client()
    behind = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD}, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.91")
    assert behind.status_code == 302  # another client behind the same proxy


def test_it_limits_new_accounts_per_address():
    def sign_up(name: str, address: str):
        data = {"username": name, "password1": PASSWORD, "password2": PASSWORD}
        return Client().post("/accounts/signup/", data, REMOTE_ADDR=address)

    assert sign_up("first_one", "198.51.100.30").status_code == 302
    assert sign_up("second_one", "198.51.100.30").status_code == 302
    refused = sign_up("third_one", "198.51.100.30")
    assert refused.status_code == 429
    assert "Too many new accounts from your network" in refused.content.decode()
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="third_one").exists()
    assert sign_up("third_one", "198.51.100.31").status_code == 302


def test_it_keeps_staff_names_out_of_the_public_revision_history(documents_dir):
    import json

    from scribe import services as scribe_services

    staff = _user(is_staff=True, is_superuser=True)
    document = scribe_services.document_start(room_slug=RoomFactory().slug, title="Names", style="factual", user=staff)
    public = Client().get(f"/api/scribe/{document.pk}/revisions").json()
    assert public[0]["created_by"] == "moderator"
    assert staff.username not in json.dumps(public)
    assert staff.username not in Client().get(f"/scribe/{document.pk}/").content.decode()
    staff_client = Client()
    staff_client.force_login(staff)
    assert staff_client.get(f"/api/scribe/{document.pk}/revisions").json()[0]["created_by"] == staff.username
