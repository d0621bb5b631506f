"""Who a client is, by address: one rule for WebSockets, sign-in throttling and /metrics.

The peer address, or, when the peer is one of our own proxies (CHATTER_TRUSTED_PROXIES), the
nearest X-Forwarded-For hop that is not: the left end of that header is whatever the client claimed.
Limits count an IPv6 client by its /64, the block one subscriber usually holds, so rotating through
its addresses does not multiply a limit.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest

IPV6_PREFIX = 64


def in_networks(address: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def forwarded_client_ip(peer: str | None, forwarded: str) -> str | None:
    if peer is None or not settings.TRUSTED_PROXIES or not in_networks(peer, settings.TRUSTED_PROXIES):
        return peer
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):  # the right end was appended by our own proxies; the left is the client's say
        if not in_networks(hop, settings.TRUSTED_PROXIES):
            return hop
    return hops[0] if hops else peer


def scope_client_ip(scope: dict[str, Any]) -> str | None:
    client = scope.get("client")
    forwarded = b",".join(value for name, value in scope.get("headers", ()) if name == b"x-forwarded-for")
    return forwarded_client_ip(client[0] if client else None, forwarded.decode("latin-1"))


def request_client_ip(request: HttpRequest) -> str | None:
    return forwarded_client_ip(request.META.get("REMOTE_ADDR") or None, request.META.get("HTTP_X_FORWARDED_FOR", ""))


def address_bucket(address: str) -> str:
    """The key a per-address limit counts under: the address, or an IPv6 address's /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))
