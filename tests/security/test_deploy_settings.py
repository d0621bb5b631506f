"""Production settings: `check --deploy` clean, the secret key only from the environment."""
from __future__ import annotations

import os
import runpy
import secrets
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatter_site.lib.runtime import development_secret_key_ensure
from tests.support.processes import ROOT

STRONG_KEY = secrets.token_urlsafe(50)


def _manage(*args: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CHATTER_", "OPENAI_", "AWS_"))
    }
    base.update(
        DJANGO_SETTINGS_MODULE="chatter_site.settings",
        CHATTER_VAR_DIR=str(tmp_path / "var"),
        CHATTER_RUNTIME_DIR=str(tmp_path / "run"),
        DATABASE_URL=os.environ["DATABASE_URL"],
        REDIS_URL=os.environ["REDIS_URL"],
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60
    )


def test_it_passes_the_deploy_check_with_production_settings(tmp_path) -> None:
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path,
        CHATTER_ENV="production", CHATTER_SECRET_KEY=STRONG_KEY, CHATTER_ALLOWED_HOSTS="chat.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_fails_the_deploy_check_without_production_settings(tmp_path) -> None:
    """The check is not vacuous: the development settings trip it."""
    result = _manage("check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout  # no HSTS in development


def test_it_refuses_to_start_in_production_without_a_secret_key(tmp_path) -> None:
    result = _manage("check", tmp_path=tmp_path, CHATTER_ENV="production")
    assert result.returncode != 0
    assert "ImproperlyConfigured: CHATTER_SECRET_KEY must be set in production" in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists()  # and it did not quietly generate one


def _settings(monkeypatch, tmp_path, **env: str) -> dict:
    """The settings module evaluated afresh under `env` (in-process: a subprocess per case is slow)."""
    for key in [key for key in os.environ if key.startswith(("DJANGO_", "CHATTER_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CHATTER_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CHATTER_RUNTIME_DIR", str(tmp_path / "run"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(str(ROOT / "chatter_site" / "settings.py"))


@pytest.mark.parametrize(
    "key", ["short-key", "a" * 60, "django-insecure-" + secrets.token_urlsafe(50)], ids=["short", "repetitive", "insecure-prefix"]
)
def test_it_refuses_a_weak_secret_key_in_production(monkeypatch, tmp_path, key: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="CHATTER_SECRET_KEY is too weak for production") as refused:
        _settings(monkeypatch, tmp_path, CHATTER_ENV="production", CHATTER_SECRET_KEY=key)
    assert key not in str(refused.value)  # the message never echoes the key


def test_it_refuses_debug_in_production(monkeypatch, tmp_path) -> None:
    with pytest.raises(ImproperlyConfigured, match="CHATTER_DEBUG must be off when CHATTER_ENV=production"):
        _settings(monkeypatch, tmp_path, CHATTER_ENV="production", CHATTER_SECRET_KEY=STRONG_KEY, CHATTER_DEBUG="1")


def test_it_refuses_an_unknown_environment_name(monkeypatch, tmp_path) -> None:
    with pytest.raises(ImproperlyConfigured, match="CHATTER_ENV must be one of development, production"):
        _settings(monkeypatch, tmp_path, CHATTER_ENV="prod")


def test_it_turns_on_the_https_settings_in_production(monkeypatch, tmp_path) -> None:
    production = _settings(monkeypatch, tmp_path, CHATTER_ENV="production", CHATTER_SECRET_KEY=STRONG_KEY)
    assert production["SECRET_KEY"] == STRONG_KEY
    assert production["SESSION_COOKIE_SECURE"] and production["CSRF_COOKIE_SECURE"] and production["SECURE_SSL_REDIRECT"]
    assert production["SECURE_HSTS_SECONDS"] >= 31536000
    assert production["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    development = _settings(monkeypatch, tmp_path)
    assert "SECURE_SSL_REDIRECT" not in development and "SESSION_COOKIE_SECURE" not in development


def test_it_reads_the_proxy_ssl_header_from_the_environment(monkeypatch, tmp_path) -> None:
    production = {"CHATTER_ENV": "production", "CHATTER_SECRET_KEY": STRONG_KEY}
    custom = _settings(monkeypatch, tmp_path, CHATTER_PROXY_SSL_HEADER="X-Scheme: https", **production)
    assert custom["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_SCHEME", "https")
    off = _settings(monkeypatch, tmp_path, CHATTER_PROXY_SSL_HEADER="off", **production)
    assert off["SECURE_PROXY_SSL_HEADER"] is None
    with pytest.raises(ImproperlyConfigured, match="CHATTER_PROXY_SSL_HEADER must look like"):
        _settings(monkeypatch, tmp_path, CHATTER_PROXY_SSL_HEADER="X-Forwarded-Proto", **production)


def test_it_keeps_a_generated_development_key_out_of_git(monkeypatch, tmp_path) -> None:
    _settings(monkeypatch, tmp_path)
    assert not (tmp_path / "var").exists()  # reading settings writes nothing; runchatter generates the key
    generated = development_secret_key_ensure()
    first = _settings(monkeypatch, tmp_path)["SECRET_KEY"]
    second = _settings(monkeypatch, tmp_path)["SECRET_KEY"]
    assert first == second == generated and len(first) >= 50
    assert development_secret_key_ensure() == first  # generated once
    assert (tmp_path / "var" / "secret_key").read_text().strip() == first
    ignored = subprocess.run(["git", "check-ignore", "-q", "var/secret_key"], cwd=ROOT)
    assert ignored.returncode == 0, "var/ must be git-ignored: it holds the development secret key"
