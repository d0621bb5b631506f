"""Who is in a room: the chatter list and viewer count of the room page (SPEC 11).

Cheap by construction: nothing happens per message. Each Daphne process's hub keeps, per room,
how many sockets it holds and the signed-in names behind them; it writes one entry per room to a
Redis hash when that changes (and every few seconds as a heartbeat), reads the room's merged hash
about once a second and pushes a `chatters` frame to its own sockets only when the merged list
changed. Entries of a dead process age out.

chat knows nothing of personas: the cast (the room's roster) comes from the source that the
personas app registers here in its AppConfig.ready() (see `cast_source_register`).
"""
from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from chatter_site.lib.redis import redis_client

ENTRY_STALE_SECONDS = 20
# A list longer than this is cut (with the total still counted): the frame goes to every socket.
MAX_LISTED = 300
ROLE_MODERATOR = "moderator"
ROLE_VIEWER = "viewer"

CastSource = Callable[[str], list[dict[str, Any]]]
_cast_sources: list[CastSource] = []
# name -> a persona's user card ({name, color, badges, bio, page_url, narrative_url}) or None.
CardSource = Callable[[str], dict[str, Any] | None]
_card_sources: list[CardSource] = []


def chatters_key(slug: str) -> str:
    return f"chatter:chatters:{slug}"


def cast_source_register(source: CastSource) -> None:
    """`source(room_slug)` returns the room's cast as [{name, color, badges}]; called off the chat path."""
    if source not in _cast_sources:
        _cast_sources.append(source)


def room_cast(*, room_slug: str) -> list[dict[str, Any]]:
    cast: list[dict[str, Any]] = []
    for source in _cast_sources:
        cast.extend(source(room_slug))
    return cast


def card_source_register(source: CardSource) -> None:
    """`source(name)` returns the card of a cast member with that name, or None."""
    if source not in _card_sources:
        _card_sources.append(source)


def cast_card(*, name: str) -> dict[str, Any] | None:
    for source in _card_sources:
        card = source(name)
        if card is not None:
            return card
    return None


def presence_entry_write(*, room_slug: str, process_id: str, sockets: int, people: Counter[tuple[str, str]]) -> None:
    """This process's share of the room: its socket count and the signed-in (name, role) behind them."""
    entry = {"at": time.time(), "sockets": sockets, "people": [[name, role] for (name, role) in people]}
    pipe = redis_client().pipeline(transaction=False)
    pipe.hset(chatters_key(room_slug), process_id, json.dumps(entry))
    pipe.expire(chatters_key(room_slug), 120)
    pipe.execute()


def presence_entry_remove(*, room_slug: str, process_id: str) -> None:
    redis_client().hdel(chatters_key(room_slug), process_id)


def chatters_read(*, room_slug: str, cast: list[dict[str, Any]], now: float | None = None) -> dict[str, Any]:
    """The room's merged chatter list, as the `chatters` frame carries it."""
    now = time.time() if now is None else now
    sockets = 0
    roles: dict[str, str] = {}
    for raw in redis_client().hgetall(chatters_key(room_slug)).values():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if now - float(entry.get("at", 0)) >= ENTRY_STALE_SECONDS:
            continue
        sockets += int(entry.get("sockets", 0))
        for name, role in entry.get("people", ()):
            # One person in several tabs or processes is listed once, with their highest role.
            if roles.get(name) != ROLE_MODERATOR:
                roles[name] = role
    return chatters_frame(room_slug=room_slug, sockets=sockets, roles=roles, cast=cast)


def chatters_frame(*, room_slug: str, sockets: int, roles: dict[str, str], cast: list[dict[str, Any]]) -> dict[str, Any]:
    cast_names = {member["name"].lower() for member in cast}
    moderators = sorted((n for n, r in roles.items() if r == ROLE_MODERATOR), key=str.lower)
    viewers = sorted((n for n, r in roles.items() if r != ROLE_MODERATOR and n.lower() not in cast_names), key=str.lower)
    listed_cast = sorted(
        ({"name": m["name"], "color": m.get("color"), "badges": list(m.get("badges") or [])} for m in cast),
        key=lambda member: member["name"].lower(),
    )
    return {
        "type": "chatters",
        "room": room_slug,
        "viewer_count": sockets,  # every open socket, signed in or not
        "counts": {"moderators": len(moderators), "viewers": len(viewers), "cast": len(listed_cast)},
        "moderators": moderators[:MAX_LISTED],
        "viewers": viewers[:MAX_LISTED],
        "cast": listed_cast[:MAX_LISTED],
    }
