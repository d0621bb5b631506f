"""runchatter's supervisor and the demo stream: a yielded demo is not restarted, and plays again
only after the demo room has had no source for a while (chatter_site/lib/runner/demo_stream.py)."""
from __future__ import annotations

import pytest

from chatter_site.lib.runner.demo_stream import DemoStreamWatch, exited_by_yielding
from chatter_site.lib.runtime import EXIT_SOURCE_YIELDED


@pytest.mark.parametrize(
    "name, returncode, yielded",
    [("stream", EXIT_SOURCE_YIELDED, True), ("stream", 0, False), ("stream", 1, False), ("worker", EXIT_SOURCE_YIELDED, False)],
)
def test_it_tells_a_yield_from_a_crash(name, returncode, yielded):
    assert exited_by_yielding(name=name, returncode=returncode) is yielded


def test_it_plays_the_demo_again_only_after_the_room_was_sourceless_for_the_idle_time():
    owner: list[str | None] = ["script-users-own"]
    watch = DemoStreamWatch(owner_of=lambda: owner[0], idle_seconds=60, poll_seconds=2)
    assert not watch.due(now=1000), "a demo that never yielded is running: nothing to resume"

    watch.on_yield()
    assert not watch.due(now=1000)  # the user's source has the room
    assert not watch.due(now=1500)
    owner[0] = None  # the user's source ended
    assert not watch.due(now=1502)
    assert not watch.due(now=1530)
    owner[0] = "script-another-one"  # somebody started another source meanwhile: the clock restarts
    assert not watch.due(now=1540)
    owner[0] = None
    assert not watch.due(now=1550)
    assert not watch.due(now=1609)
    assert watch.due(now=1611)
    assert not watch.yielded
    assert not watch.due(now=1700), "due once, not at every poll"


def test_it_asks_for_the_room_owner_at_most_once_per_poll_interval():
    asked: list[float] = []
    watch = DemoStreamWatch(owner_of=lambda: asked.append(1) or "someone", poll_seconds=2)
    watch.on_yield()
    for now in (10.0, 10.5, 11.0, 11.9, 12.1):
        watch.due(now=now)
    assert len(asked) == 2
