"""The decision policy, statistically over many ticks (seeded, so the figures are reproducible)."""
from __future__ import annotations

import random
from dataclasses import replace

import pytest

from personas.policy import HARD_CHAIN_LIMIT, Decision, PolicyInput, decide, may_lead, mention_ceiling

TICKS = 4000
BASE = PolicyInput(chattiness=0.08, hype_sensitivity=1.0, bot_affinity=0.3, max_posts_per_minute=4, seconds_since_last_message=2.0)


def _rate(inputs: PolicyInput, seed: int = 7) -> float:
    rng = random.Random(seed)
    return sum(decide(inputs, rng).post for _ in range(TICKS)) / TICKS


def test_it_posts_at_roughly_the_base_chattiness_on_a_quiet_tick():
    assert _rate(BASE) == pytest.approx(0.08, abs=0.015)


@pytest.mark.parametrize("kind", ["clutch", "fail", "big_laugh", "chat_question", "scene_change", "chat_spike"])
def test_it_posts_more_when_the_stream_has_an_event(kind):
    assert _rate(replace(BASE, fresh_events=((kind, 0.8),))) > 1.8 * _rate(BASE)


def test_it_reacts_harder_with_higher_hype_sensitivity():
    event = ((("clutch", 0.8),))
    calm = _rate(replace(BASE, hype_sensitivity=0.3, fresh_events=event))
    hyped = _rate(replace(BASE, hype_sensitivity=2.0, fresh_events=event))
    assert hyped > 1.5 * calm


def test_it_answers_a_human_mention_almost_always():
    assert _rate(replace(BASE, mentioned_by_human=True)) > 0.85


def test_it_posts_more_when_humans_are_talking():
    assert _rate(replace(BASE, human_messages_recent=4)) > 1.5 * _rate(BASE)


def test_it_joins_a_trend_wave_it_likes():
    assert _rate(replace(BASE, trend_match=True)) > 1.3 * _rate(BASE)


def test_it_posts_less_after_its_own_recent_posts():
    assert _rate(replace(BASE, own_posts_last_minute=2, seconds_since_own_post=40)) < 0.5 * _rate(BASE)


def test_it_posts_less_when_chat_is_only_bots():
    assert _rate(replace(BASE, bot_share_recent=1.0)) < 0.75 * _rate(BASE)


def test_a_bot_friendly_persona_minds_bot_chatter_less():
    shy = _rate(replace(BASE, bot_share_recent=1.0, bot_affinity=0.0))
    friendly = _rate(replace(BASE, bot_share_recent=1.0, bot_affinity=0.9))
    assert friendly > 2 * shy


def test_it_damps_long_bot_to_bot_chains_and_stops_them():
    assert _rate(replace(BASE, bot_chain_depth=5)) < 0.4 * _rate(BASE)
    assert _rate(replace(BASE, bot_chain_depth=HARD_CHAIN_LIMIT)) == 0.0


def test_a_human_breaks_the_anti_loop_stop():
    assert _rate(replace(BASE, bot_chain_depth=HARD_CHAIN_LIMIT, mentioned_by_human=True)) > 0.5


def test_it_never_posts_at_or_over_its_max_posts_per_minute():
    hyped = replace(BASE, fresh_events=(("clutch", 1.0),), mentioned_by_human=True, own_posts_last_minute=4)
    assert _rate(hyped) == 0.0


def test_its_own_initiative_leaves_a_third_of_its_budget_for_answering_humans():
    busy = replace(BASE, max_posts_per_minute=6, fresh_events=(("clutch", 1.0),), own_posts_last_minute=4, seconds_since_own_post=30)
    assert _rate(busy) == 0.0
    assert _rate(replace(busy, mentioned_by_human=True)) > 0.85


def test_its_own_initiative_leaves_one_post_a_minute_for_answering_humans():
    at_reserve = replace(BASE, fresh_events=(("clutch", 1.0),), own_posts_last_minute=3, seconds_since_own_post=30)
    assert _rate(at_reserve) == 0.0
    assert decide(at_reserve, random.Random(1)).reasons == ["mention_reserve"]
    assert _rate(replace(at_reserve, mentioned_by_human=True)) > 0.85  # the reserved post answers a human


def test_a_persona_allowed_one_post_a_minute_keeps_no_reserve():
    assert _rate(replace(BASE, max_posts_per_minute=1, chattiness=0.5)) > 0.3


def test_it_never_exceeds_max_posts_per_minute_over_a_simulated_hour():
    """Simulate one-second ticks with a hyped stream: the posts in any 60 s never exceed the cap."""
    rng = random.Random(3)
    posts: list[int] = []
    for second in range(3600):
        recent = [at for at in posts if second - at < 60]
        inputs = replace(
            BASE,
            chattiness=0.6,
            fresh_events=(("clutch", 1.0),) if second % 7 == 0 else (),
            own_posts_last_minute=len(recent),
            seconds_since_own_post=(second - posts[-1]) if posts else None,
        )
        if decide(inputs, rng).post:
            posts.append(second)
    assert posts, "a hyped persona should post"
    assert max(sum(1 for at in posts if start <= at < start + 60) for start in range(3600)) <= 4


def test_it_names_every_factor_it_applied():
    decision = decide(
        replace(BASE, fresh_events=(("fail", 0.7),), human_messages_recent=2, bot_share_recent=0.5, bot_chain_depth=4),
        random.Random(1),
    )
    assert {"base", "event:fail", "humans_talking", "bot_chatter", "anti_loop"} <= set(decision.reasons)


def test_it_breaks_a_long_silence_more_readily():
    assert _rate(replace(BASE, seconds_since_last_message=30.0)) > 2 * _rate(BASE)
    assert _rate(replace(BASE, seconds_since_last_message=None)) > 2 * _rate(BASE)


def test_answers_to_humans_may_overrun_the_cap_by_half_and_no_further():
    assert [mention_ceiling(n) for n in (1, 2, 3, 4, 6)] == [2, 3, 4, 6, 9]


def test_a_persona_held_back_only_by_its_mention_reserve_may_lead_a_reaction():
    at_reserve = replace(BASE, fresh_events=(("clutch", 1.0),), own_posts_last_minute=3, seconds_since_own_post=30)
    assert may_lead(decide(at_reserve, random.Random(1)))
    assert not may_lead(decide(replace(at_reserve, own_posts_last_minute=4), random.Random(1)))  # at its cap
    assert not may_lead(decide(replace(at_reserve, seconds_since_own_post=3), random.Random(1)))  # in cooldown
    assert not may_lead(Decision(post=True, probability=0.5, reasons=["base"]))  # posting already
