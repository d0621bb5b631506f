"""Sign-up refuses names that impersonate (SPEC 11, "Names"): reserved words, persona handles and
names confusable with a taken one (Unicode look-alikes, case)."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chat.names import name_reserved_reason, name_skeleton
from tests.factories import UserFactory
from tests.personas.factories import PersonaFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-passphrase-42"


def _sign_up(username: str):
    return Client().post(
        "/accounts/signup/", {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    )


def _refused(username: str) -> str:
    response = _sign_up(username)
    assert response.status_code == 200, f"{username!r} was accepted"
    assert not get_user_model().objects.filter(username=username).exists()
    return response.content.decode()


@pytest.mark.parametrize(
    "name",
    ["admin", "Admin", "ADMIN", "adm1n", "Mod", "mod_2", "moderator", "xXmoderatorXx", "staff", "system",
     "ѕуѕtеm", "chatter", "Chatter_", "replay_alice", "REPLAY_bob", "support"],
)
def test_it_refuses_reserved_names(name):
    page = _refused(name)
    assert "reserved" in page or "may not" in page


def test_it_refuses_persona_handles_and_their_look_alikes():
    PersonaFactory(handle="quill")
    for name in ("quill", "Quill", "QUlLL", "qui11", "ԛuill"):  # ԛ is Cyrillic
        assert "cast" in _refused(name), name


def test_it_refuses_names_confusable_with_a_taken_one():
    UserFactory(username="paypal_fan")
    UserFactory(username="modern_bob")
    for name in ("PayPaI_fan", "pаypаl_fan", "rnodern_bob", "modern_b0b"):  # а is Cyrillic
        page = _refused(name)
        assert "looks too much like" in page, name
    assert "already exists" in _refused("paypal_Fan")  # Django's own check, case-insensitive


def test_it_accepts_an_ordinary_name_and_signs_in():
    UserFactory(username="paypal_fan")
    response = _sign_up("badminton_lover")
    assert response.status_code == 302
    assert get_user_model().objects.filter(username="badminton_lover").exists()
    assert name_reserved_reason("badminton_lover") is None


def test_skeletons_match_look_alikes_and_keep_different_names_apart():
    assert name_skeleton("Alice") == name_skeleton("аlice") == name_skeleton("AL1CE")
    assert name_skeleton("bob0") == name_skeleton("BOBO")
    assert name_skeleton("nova") != name_skeleton("nona")
    assert name_skeleton("sam") != name_skeleton("pam")
