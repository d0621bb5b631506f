"""The fast loop's decision policy: should this persona post on this tick? Pure and deterministic
given its inputs and random source, so it can be tested statistically over many ticks.

probability = base chattiness × boosts (stream events, a human @mention, human messages, a trend
wave it likes) × dampeners (its own recent posts, bot-only chatter, cooldown, anti-loop chain
depth), with a hard cap at max posts per minute, of which the persona's own initiative may use all
but `mention_reserve` of them (kept for answering humans). Every factor applied is named in `reasons`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

MAX_PROBABILITY = 0.95
# How strongly each stream event kind invites a reaction (× hype sensitivity × confidence).
EVENT_WEIGHTS = {
    "clutch": 4.0, "fail": 3.0, "big_laugh": 3.0, "chat_question": 3.5, "scene_change": 1.5, "chat_spike": 2.0,
}
DEFAULT_EVENT_WEIGHT = 1.5
# Bot-only chains longer than this get damped; at HARD_CHAIN_LIMIT only humans or the stream restart talk.
CHAIN_GRACE = 2
HARD_CHAIN_LIMIT = 8
QUIET_CHAT_SECONDS = 8.0


# Posts of each persona's per-minute budget the fast loop leaves free for answering humans who
# @mention it (SPEC 6.1: a mention is answered within seconds unless the persona is rate-limited):
# a third of the budget, at least one, none for a persona allowed a single post a minute.
def mention_reserve(max_posts_per_minute: int) -> int:
    return max(1, max_posts_per_minute // 3) if max_posts_per_minute > 1 else 0


def tick_budget(max_posts_per_minute: int) -> int:
    """Posts a minute the fast loop may spend on its own; the rest waits for @mentions."""
    return max_posts_per_minute - mention_reserve(max_posts_per_minute)


def mention_ceiling(max_posts_per_minute: int) -> int:
    """Posts a minute past which a persona no longer answers a human's @mention: answers to people
    matter most, so they may overrun the cap by half of it (at least one), and no further, so a
    viewer spamming mentions cannot make a persona flood the room."""
    return max_posts_per_minute + max(1, max_posts_per_minute // 2)


def may_lead(decision: Decision) -> bool:
    """Whether a persona that did not choose to post may be made to lead the reaction to a fresh
    stream event: any that could have posted, and one held back only by its mention reserve (a
    moment on stream nobody reacts to is worth a reserved post; mentions may overrun the cap)."""
    return not decision.post and (decision.probability > 0 or decision.reasons == ["mention_reserve"])


# slots, not frozen: a tick builds one per persona (1,000 a second for a large cast) and a frozen
# dataclass's __init__ costs twice as much. Treat it as immutable; `dataclasses.replace` makes variants.
@dataclass(slots=True)
class PolicyInput:
    chattiness: float
    hype_sensitivity: float
    bot_affinity: float
    max_posts_per_minute: int
    hype_multiplier: float = 1.0
    bot_human_bias: float = 0.5
    fresh_events: tuple[tuple[str, float], ...] = ()  # (kind, confidence) not yet reacted to
    mentioned_by_human: bool = False
    human_messages_recent: int = 0
    trend_match: bool = False  # a wave or top term the persona loves is running
    own_posts_last_minute: int = 0
    seconds_since_own_post: float | None = None
    bot_share_recent: float = 0.0  # share of bot messages among the recent window
    bot_chain_depth: int = 0  # consecutive bot messages at the end of the window
    seconds_since_last_message: float | None = None  # anyone's; None when chat is empty


@dataclass
class Decision:
    post: bool
    probability: float
    reasons: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return "post" if self.post else "skip"


def decide(inputs: PolicyInput, rng: random.Random) -> Decision:
    probability, reasons = posting_probability(inputs)
    return Decision(post=probability > 0 and rng.random() < probability, probability=probability, reasons=reasons)


def posting_probability(inputs: PolicyInput) -> tuple[float, list[str]]:
    reasons: list[str] = []
    if inputs.own_posts_last_minute >= inputs.max_posts_per_minute:
        return 0.0, ["rate_cap"]
    min_gap = 60.0 / max(inputs.max_posts_per_minute, 1)
    if inputs.seconds_since_own_post is not None and inputs.seconds_since_own_post < min_gap * 0.5:
        return 0.0, ["cooldown"]
    interesting = bool(inputs.fresh_events) or inputs.mentioned_by_human or inputs.human_messages_recent > 0
    if inputs.bot_chain_depth >= HARD_CHAIN_LIMIT and not interesting:
        return 0.0, ["anti_loop"]
    # Last of the hard stops: `may_lead` reads a lone "mention_reserve" as "free but for the reserve".
    if not inputs.mentioned_by_human and inputs.own_posts_last_minute >= tick_budget(inputs.max_posts_per_minute):
        return 0.0, ["mention_reserve"]

    probability = inputs.chattiness
    reasons.append("base")

    # --- boosts ---
    for kind, confidence in inputs.fresh_events:
        weight = EVENT_WEIGHTS.get(kind, DEFAULT_EVENT_WEIGHT)
        probability *= 1.0 + weight * inputs.hype_sensitivity * inputs.hype_multiplier * confidence
        reasons.append(f"event:{kind}")
    if inputs.human_messages_recent:
        # bot_human_bias 0.5 is neutral; towards 1 humans pull the cast in harder.
        pull = 0.25 * min(inputs.human_messages_recent, 6) * (2.0 * inputs.bot_human_bias)
        probability *= 1.0 + pull
        reasons.append("humans_talking")
    if inputs.trend_match:
        probability *= 1.6
        reasons.append("trend_wave")
    if inputs.seconds_since_last_message is None or inputs.seconds_since_last_message > QUIET_CHAT_SECONDS:
        # Regulars break a silence: an empty chat is the exception on a live stream.
        probability *= 2.5
        reasons.append("quiet_chat")

    # --- dampeners ---
    if inputs.own_posts_last_minute:
        probability *= 0.55 ** inputs.own_posts_last_minute
        reasons.append("own_recent_posts")
    if inputs.bot_share_recent > 0:
        # A room full of bots talking to bots is dull: only bot-friendly personas keep going.
        probability *= 1.0 - inputs.bot_share_recent * (1.0 - inputs.bot_affinity) * (1.0 - 0.5 * inputs.bot_human_bias)
        reasons.append("bot_chatter")
    if inputs.bot_chain_depth > CHAIN_GRACE:
        probability *= 0.6 ** (inputs.bot_chain_depth - CHAIN_GRACE)
        reasons.append("anti_loop")
    if inputs.seconds_since_own_post is not None and inputs.seconds_since_own_post < min_gap:
        probability *= inputs.seconds_since_own_post / min_gap
        reasons.append("cooldown")

    # A human who @mentions the persona gets an answer regardless of the mood of the room.
    if inputs.mentioned_by_human:
        probability = max(probability, 0.9)
        reasons.append("mentioned")
    return max(0.0, min(probability, MAX_PROBABILITY)), reasons
