"""Every HTTP route of the project, walked from the resolver, with who may use it.

A route missing from the classification fails `test_it_classifies_every_url`: adding a URL means
deciding here whether it is public, for signed-in viewers, or for staff.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

PUBLIC = "public"
SIGNED_IN = "signed-in"
STAFF = "staff"  # staff, or a user holding the matching model permission
LOOPBACK_OR_TOKEN = "loopback-or-token"
OWNER_OR_STAFF = "owner-or-staff"  # a viewer's own data: anyone else gets the unknown-name 404

CLASSIFICATION: dict[str, str] = {
    # chat
    "chat-home": PUBLIC,
    "chat-rooms": PUBLIC,
    "chat-room": PUBLIC,
    "chat-room-popout": PUBLIC,
    "chat-room-overlay": PUBLIC,
    "chat-api-user": PUBLIC,  # a card: persona bio, join date; a person's messages only for moderators
    "chat-api-rooms": PUBLIC,
    "chat-api-messages": PUBLIC,
    "chat-api-context": PUBLIC,
    "chat-api-trends": PUBLIC,
    "chat-healthz": PUBLIC,
    "chat-metrics": LOOPBACK_OR_TOKEN,
    "chat-signup": PUBLIC,
    "chat-login": PUBLIC,
    "chat-logout": PUBLIC,
    "chat-api-moderation": STAFF,  # room moderators and staff (tests/chat/test_moderation.py)
    "chat-api-reports": SIGNED_IN,
    # scribe: reading is public, running and editing are not
    "scribe-api-document": PUBLIC,
    "scribe-api-revisions": PUBLIC,
    "scribe-api-revision": PUBLIC,
    "scribe-document": PUBLIC,
    "scribe-revision": PUBLIC,
    "scribe-api-start": STAFF,
    "scribe-api-toggle": STAFF,
    "scribe-api-edit": STAFF,
    "scribe-api-restore": STAFF,
    "scribe-start": STAFF,
    "scribe-toggle": STAFF,
    "scribe-edit": STAFF,
    "scribe-restore": STAFF,
    "scribe-api-redact": STAFF,
    "scribe-redact": STAFF,
    # memory
    "memory-api-persona-narrative": PUBLIC,
    "memory-api-viewer-narrative": OWNER_OR_STAFF,
    "memory-profile": SIGNED_IN,
    "memory-reflection-status": STAFF,
    # personas
    "personas-persona": PUBLIC,
    # admin: everything is staff (AdminSite wraps its views) except signing in and out
    "admin:login": PUBLIC,
    "admin:logout": PUBLIC,
    "admin-llm": STAFF,  # /admin/llm/, beside the admin site (chatter_site/llm_admin.py)
}
ADMIN_NAMESPACE = "admin"

_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")


@dataclass(frozen=True)
class Route:
    pattern: str  # the route as declared, e.g. "admin/chat/room/<path:object_id>/change/"
    name: str  # "chat-room", "admin:chat_room_change", or "admin:<pattern>" when unnamed
    namespace: str | None

    @property
    def access(self) -> str | None:
        if self.name in CLASSIFICATION:
            return CLASSIFICATION[self.name]
        if self.namespace == ADMIN_NAMESPACE:
            return STAFF
        return None

    def url(self, samples: dict[str, Any]) -> str:
        """A concrete URL for this route, parameters filled from `samples` (real objects' keys)."""
        path = _REGEX_GROUP.sub(lambda match: str(samples[match.group(1)]), self.pattern)
        path = _CONVERTER.sub(lambda match: str(samples[match.group(1)]), path)
        return "/" + path.replace("^", "").replace("$", "")


def routes() -> list[Route]:
    found: list[Route] = []

    def walk(patterns, prefix: str, namespace: str | None) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern), entry.namespace or namespace)
            elif isinstance(entry, URLPattern):
                pattern = prefix + str(entry.pattern)
                label = entry.name or pattern
                name = f"{namespace}:{label}" if namespace else label
                found.append(Route(pattern=pattern, name=name, namespace=namespace))

    walk(get_resolver().url_patterns, "", None)
    return found
