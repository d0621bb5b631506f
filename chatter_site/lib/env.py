"""Strict environment helpers: a bad value fails loudly with ImproperlyConfigured.

Our variables are all `CHATTER_*`; names shared with other tools keep theirs (DATABASE_URL,
REDIS_URL, OPENAI_*, AWS_*, PORT). A renamed variable is still read under its old name for one
release, with a warning naming the new one (RENAMED).
"""
from __future__ import annotations

import ipaddress
import logging
import os
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("chatter.settings")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# New name → the old name still accepted (until chatter 2.0) when the new one is unset.
RENAMED: dict[str, str] = {
    "CHATTER_DEBUG": "DJANGO_DEBUG",
    "CHATTER_SECRET_KEY": "DJANGO_SECRET_KEY",
    "CHATTER_ALLOWED_HOSTS": "DJANGO_ALLOWED_HOSTS",
    "CHATTER_CSRF_TRUSTED_ORIGINS": "DJANGO_CSRF_TRUSTED_ORIGINS",
    "CHATTER_JOBS_SWEEP_SECONDS": "CHATTER_REFLECTION_SWEEP_SECONDS",  # one sweep for every kind of job
}
_warned: set[str] = set()


def env_raw(name: str) -> tuple[str, str | None]:
    """The variable's raw value and the name it was found under (an old name warns, once per process)."""
    value = os.environ.get(name)
    old = RENAMED.get(name)
    if value is not None or old is None or old not in os.environ:
        return name, value
    if old not in _warned:
        _warned.add(old)
        logger.warning("%s is deprecated and will stop working in chatter 2.0: set %s instead", old, name)
    return old, os.environ[old]


def env_str(name: str, default: str | None = None) -> str | None:
    value = env_raw(name)[1]
    if value is None or value == "":
        return default
    return value


def env_bool(name: str, default: bool = False) -> bool:
    name, raw = env_raw(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    name, raw = env_raw(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be <= {maximum}, got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    name, raw = env_raw(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    raw = env_raw(name)[1]
    raw = default if raw is None else raw
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, *, schemes: tuple[str, ...], default: str | None = None) -> str | None:
    found, raw = env_raw(name)
    if not raw:
        raw, found = default, name
    if raw is None:
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in schemes:
        raise ImproperlyConfigured(f"{found} must be a URL with scheme {' or '.join(schemes)}, got {raw!r}")
    return raw


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    raw = env_str(name) or default
    value = raw.strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return value


# Django's own bar for a key (security.W009): long, varied, and not one of its generated dev keys.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE = 5


def env_secret_key(name: str) -> str:
    """A production secret key: only ever from the environment, and strong enough for Django."""
    name, key = env_raw(name)
    key = key or None
    how = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    if key is None:
        raise ImproperlyConfigured(
            f"{name} must be set in production (CHATTER_ENV=production): {SECRET_KEY_MIN_LENGTH}+ random "
            f"characters, e.g. from {how}. The key generated into var/ is for development only."
        )
    if len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < SECRET_KEY_MIN_UNIQUE or key.startswith("django-insecure"):
        raise ImproperlyConfigured(
            f"{name} is too weak for production: it needs {SECRET_KEY_MIN_LENGTH}+ characters, "
            f"{SECRET_KEY_MIN_UNIQUE}+ distinct ones, and no 'django-insecure' prefix (e.g. from {how})"
        )
    return key


def env_header(name: str, default: str | None) -> tuple[str, str] | None:
    """`Header-Name: value` as Django's META pair (SECURE_PROXY_SSL_HEADER); `off` or empty → None."""
    name, raw = env_raw(name)
    raw = default if raw is None else raw
    if raw is None or raw.strip().lower() in ("", "off", "none"):
        return None
    header, sep, value = raw.partition(":")
    header, value = header.strip(), value.strip()
    if not sep or not header or not value or not all(ch.isalnum() or ch == "-" for ch in header):
        raise ImproperlyConfigured(f"{name} must look like 'X-Forwarded-Proto: https' (or 'off'), got {raw!r}")
    return "HTTP_" + header.upper().replace("-", "_"), value


def env_networks(name: str, default: str = "") -> list:
    """Comma-separated IP addresses or CIDR networks (`10.0.0.0/8,::1`) as ipaddress networks."""
    networks = []
    for item in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name} must list IP addresses or networks, got {item!r}") from None
    return networks
