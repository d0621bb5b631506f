"""Strict environment helpers: a bad value fails loudly with ImproperlyConfigured."""
from __future__ import annotations

import os
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
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
    raw = os.environ.get(name)
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
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, *, schemes: tuple[str, ...], default: str | None = None) -> str | None:
    raw = env_str(name, default)
    if raw is None:
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in schemes:
        raise ImproperlyConfigured(f"{name} must be a URL with scheme {' or '.join(schemes)}, got {raw!r}")
    return raw


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    raw = env_str(name, default)
    value = raw.strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return value


# Django's own bar for a key (security.W009): long, varied, and not one of its generated dev keys.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE = 5


def env_secret_key(name: str) -> str:
    """A production secret key: only ever from the environment, and strong enough for Django."""
    key = env_str(name)
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
    raw = os.environ.get(name)
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
    import ipaddress

    networks = []
    for item in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name} must list IP addresses or networks, got {item!r}") from None
    return networks
