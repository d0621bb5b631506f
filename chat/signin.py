"""Brute-force and abuse throttling for signing in (the site's and the admin's) and signing up.

Failed sign-ins are counted in Redis (chat.ratelimit's sliding window, so every process agrees) per
client address and per username. Past CHATTER_SIGNIN_FAILURES_PER_USERNAME failures for one name,
or CHATTER_SIGNIN_FAILURES_PER_ADDRESS from one address, within CHATTER_SIGNIN_LOCKOUT_SECONDS,
sign-in is refused (even with the right password) until the oldest failure leaves the window; the
message says for how long. A successful sign-in clears the name's failures. Sign-up is limited to
CHATTER_SIGNUP_PER_ADDRESS new accounts per address per hour. Addresses follow the WebSocket
guard's rule (chatter_site.lib.clientaddr), IPv6 by /64.
"""
from __future__ import annotations

import hashlib
import math
from importlib import import_module

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.sessions.models import Session
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from chat.events import signed_out_publish
from chat.metrics import SIGNIN_REFUSED
from chat.ratelimit import rate_limit_clear, rate_limit_hit, rate_limit_wait
from chatter_site.lib.clientaddr import address_bucket, request_client_ip

SIGNUP_WINDOW_SECONDS = 3600


def _username_key(username: str) -> str:
    # Hashed: a username is free text (any length, any character) and Redis keys are logged.
    return "signin:user:" + hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]


def _address_key(request: HttpRequest, kind: str) -> str | None:
    address = request_client_ip(request)
    return f"{kind}:addr:{address_bucket(address)}" if address else None


def _minutes(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def signin_wait(*, request: HttpRequest, username: str) -> float:
    """Seconds until this address may try this name again; 0 when it may now."""
    window = settings.SIGNIN_LOCKOUT_SECONDS
    waits = [rate_limit_wait(key=_username_key(username), limit=settings.SIGNIN_FAILURES_PER_USERNAME, window_seconds=window)]
    address_key = _address_key(request, "signin")
    if address_key:
        waits.append(rate_limit_wait(key=address_key, limit=settings.SIGNIN_FAILURES_PER_ADDRESS, window_seconds=window))
    return max(waits)


def signin_failure_record(*, request: HttpRequest, username: str) -> None:
    window = settings.SIGNIN_LOCKOUT_SECONDS
    rate_limit_hit(key=_username_key(username), limit=settings.SIGNIN_FAILURES_PER_USERNAME, window_seconds=window)
    address_key = _address_key(request, "signin")
    if address_key:
        rate_limit_hit(key=address_key, limit=settings.SIGNIN_FAILURES_PER_ADDRESS, window_seconds=window)


def signup_wait(*, request: HttpRequest) -> float:
    key = _address_key(request, "signup")
    if key is None:
        return 0.0
    return rate_limit_wait(key=key, limit=settings.SIGNUP_PER_ADDRESS, window_seconds=SIGNUP_WINDOW_SECONDS)


def signup_record(*, request: HttpRequest) -> None:
    key = _address_key(request, "signup")
    if key is not None:
        rate_limit_hit(key=key, limit=settings.SIGNUP_PER_ADDRESS, window_seconds=SIGNUP_WINDOW_SECONDS)


def signup_refusal(seconds: float) -> str:
    return f"Too many new accounts from your network. Try again in {_minutes(seconds)}."


class ThrottledSignInMixin:
    """For an AuthenticationForm: refuse while locked out, count each failure."""

    request: HttpRequest | None
    cleaned_data: dict

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if self.request is not None:
            wait = signin_wait(request=self.request, username=username)
            if wait > 0:
                SIGNIN_REFUSED.inc()
                raise forms.ValidationError(
                    "Too many failed sign-in attempts for this account or from your network. "
                    f"Try again in {_minutes(wait)}.",
                    code="throttled",
                )
        try:
            cleaned = super().clean()  # type: ignore[misc]  # a mixin: the form it is mixed into has clean()
        except forms.ValidationError:
            if self.request is not None:
                signin_failure_record(request=self.request, username=username)
            raise
        rate_limit_clear(key=_username_key(username))
        return cleaned


class SignInForm(ThrottledSignInMixin, AuthenticationForm):
    pass


class AdminSignInForm(ThrottledSignInMixin, AdminAuthenticationForm):
    pass


def session_still_valid(*, user_id: int, session_key: str | None) -> bool:
    """Is the session a socket was opened with still signed in as this user, with the password it
    was signed in with? False after sign-out (the session is gone) or a password change (its hash
    no longer matches): an open socket must not keep posting as the user."""
    if not session_key:
        return False
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key).load()
    if str(data.get(SESSION_KEY)) != str(user_id):
        return False
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    stored = data.get(HASH_SESSION_KEY) or ""
    return user is not None and constant_time_compare(stored, user.get_session_auth_hash())


def sessions_still_valid(*, pairs: list[tuple[int, str | None]]) -> set[tuple[int, str]]:
    """session_still_valid for many sockets at once (the people's group commit, chat.ingest): the
    (user id, session key) pairs still signed in with their password. With database sessions one
    query for the sessions and one for their users."""
    keys = {key for _, key in pairs if key}
    engine = import_module(settings.SESSION_ENGINE)
    data: dict[str, dict] = {}
    if settings.SESSION_ENGINE == "django.contrib.sessions.backends.db":
        store = engine.SessionStore()
        for row in Session.objects.filter(session_key__in=keys, expire_date__gt=timezone.now()):
            data[row.session_key] = store.decode(row.session_data)
    else:
        data = {key: engine.SessionStore(session_key=key).load() for key in keys}
    users = {user.pk: user for user in get_user_model().objects.filter(pk__in={uid for uid, _ in pairs}, is_active=True)}
    valid: set[tuple[int, str]] = set()
    for user_id, key in pairs:
        session, user = data.get(key or ""), users.get(user_id)
        if not key or not session or user is None or str(session.get(SESSION_KEY)) != str(user_id):
            continue
        if constant_time_compare(session.get(HASH_SESSION_KEY) or "", user.get_session_auth_hash()):
            valid.add((user_id, key))
    return valid


def signed_out_notify(sender, request, user, **kwargs) -> None:
    """user_logged_out: close the sockets this browser session holds, in every process."""
    if user is not None and user.pk is not None:
        session_key = getattr(getattr(request, "session", None), "session_key", None)
        signed_out_publish(user_id=user.pk, session_key=session_key)
