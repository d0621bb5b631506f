"""The per-process fan-out's ordering and shedding rules (unit level; delivery is tested end to end)."""
from __future__ import annotations

from chat.hub import RoomFeed, shed_bot_messages


def _item(seq: int, origin: str = "bot") -> dict:
    return {"seq": seq, "origin": origin, "room": "r"}


def test_it_releases_only_the_contiguous_run():
    feed = RoomFeed(slug="r", next_seq=5)
    for seq in (7, 5, 8):
        feed.offer(_item(seq))
    assert [item["seq"] for item in feed.take_ready()] == [5]
    assert feed.gap_since is not None  # 6 is missing: 7 and 8 wait
    feed.offer(_item(6))
    assert [item["seq"] for item in feed.take_ready()] == [6, 7, 8]
    assert feed.gap_since is None


def test_it_ignores_seqs_already_released():
    feed = RoomFeed(slug="r", next_seq=10)
    feed.offer(_item(9))
    feed.offer(_item(10))
    feed.offer(_item(10))
    assert [item["seq"] for item in feed.take_ready()] == [10]


def test_it_sheds_the_oldest_bot_messages_first_and_keeps_humans():
    items = [_item(1, "bot"), _item(2, "human"), _item(3, "bot"), _item(4, "bot"), _item(5, "human")]
    kept = shed_bot_messages(items, limit=3)
    assert [item["seq"] for item in kept] == [2, 4, 5]


def test_it_keeps_everything_under_the_limit():
    items = [_item(n) for n in range(1, 4)]
    assert shed_bot_messages(items, limit=3) == items
