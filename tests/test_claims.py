"""The claims helper (chatter_site.lib.claims) on the real Redis."""
from __future__ import annotations

import uuid

from chatter_site.lib import claims
from chatter_site.lib.redis import redis_client
from tests.support.waiting import wait_for


def _key() -> str:
    return f"chatter:test:claims:{uuid.uuid4().hex}"


def test_it_gives_a_lock_to_one_holder_until_released():
    key = _key()
    held = claims.lock_acquire(key=key, ttl_seconds=5)
    assert held is not None and claims.lock_holder(key=key) == held.token
    assert claims.lock_acquire(key=key, ttl_seconds=5) is None
    held.release()
    assert claims.lock_holder(key=key) is None
    assert claims.lock_acquire(key=key, ttl_seconds=5, renew=False) is not None


def test_it_renews_a_held_lock_past_its_ttl():
    key = _key()
    held = claims.lock_acquire(key=key, ttl_seconds=0.3)
    try:
        # The heartbeat renews every 0.1 s: the lock outlives several TTLs while held.
        start = redis_client().time()
        wait_for(lambda: (redis_client().time()[0] - start[0]) >= 1 or None, timeout=5, interval=0.1)
        assert claims.lock_holder(key=key) == held.token and not held.lost
    finally:
        held.release()


def test_it_never_releases_a_lock_another_holder_took_over():
    key = _key()
    held = claims.lock_acquire(key=key, ttl_seconds=5, renew=False)
    redis_client().set(key, "someone-else")  # as if ours expired and another holder took it
    assert not held.renew() and held.lost
    held.release()
    assert claims.lock_holder(key=key) == "someone-else"


def test_it_grants_a_flag_once_per_window():
    key = _key()
    assert claims.flag_claim(key=key, seconds=60)
    assert not claims.flag_claim(key=key, seconds=60)
    claims.flag_clear(key=key)
    assert claims.flag_claim_many(keys=[key, _key()], seconds=60) == [True, True]
    assert claims.flag_claim_many(keys=[key], seconds=60) == [False]


def test_it_takes_a_raised_flag_once():
    key = _key()
    assert not claims.flag_take(key=key)
    claims.flag_set(key=key, seconds=60)
    assert claims.flag_take(key=key)
    assert not claims.flag_take(key=key)


def test_it_hands_out_at_most_limit_slots_and_drops_stale_holders():
    key = _key()
    assert claims.slots_claim_many(key=key, members=["a", "b", "c"], limit=2, stale_seconds=30, now=1000.0) == 2
    assert claims.slots_claim_many(key=key, members=["d"], limit=2, stale_seconds=30, now=1001.0) == 0
    claims.slot_release(key=key, member="a")
    assert claims.slots_claim_many(key=key, members=["d"], limit=2, stale_seconds=30, now=1002.0) == 1
    # Holders from before now - stale_seconds no longer count.
    assert claims.slots_claim_many(key=key, members=["e", "f"], limit=2, stale_seconds=30, now=1040.0) == 2
