"""Writes for the cast: the fast-loop tick, generating and posting one line, previews."""
from __future__ import annotations

import logging
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from django.conf import settings

from chat.models import Message, Room
from chat.selectors import context_latest, trends_latest
from chat.services import draft_parse, message_ingest
from chatter_site.lib.correlation import (
    bind_correlation_id,
    current_correlation_id,
    new_correlation_id,
    reset_correlation_id,
)
from chatter_site.lib.errors import ChatterError, ErrorCode
from chatter_site.lib.llm import llm_answer_refused, llm_chat
from memory.services import persona_memories_top_k, persona_narrative_cached
from personas import activity, metrics
from personas.enqueue import persona_generate_enqueue
from personas.models import RoomCast
from personas.policy import Decision, PolicyInput, decide, may_lead, mention_ceiling
from personas.presend import line_check
from personas.prompting import system_prompt, user_prompt
from personas.selectors import CastMember, RosterMember, cast_for_room, cast_member, chat_window, room_cast_settings

logger = logging.getLogger(__name__)

# Counted from when the words were said (the event's `at`): the event only reaches the room when the
# line carrying it has been transcribed, often seconds later, so both windows leave room for that.
EVENT_FRESH_SECONDS = 10.0
EVENT_LEAD_SECONDS = 10.0  # a stream event nobody reacted to gets a lead reaction while this fresh (once)
HUMAN_RECENT_SECONDS = 15.0
WINDOW_FOR_SHARES = 20


@dataclass(frozen=True)
class TickOutcome:
    handle: str
    decision: Decision
    decision_id: str | None = None


class StreamEvent(NamedTuple):
    """A moment detected on stream, as the room's latest stream context lists it."""

    kind: str
    confidence: float
    at: float  # when the words were said (epoch seconds)
    evidence: str


def _iso_to_ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class RoomMoment:
    """What every persona in a room sees on one tick, worked out once per tick, not per persona."""

    events: tuple[StreamEvent, ...]
    humans_recent: int
    bot_share: float
    bot_chain: int
    seconds_since_last_message: float | None
    running: frozenset[str]  # emote waves, top terms, stream keywords


def room_moment(*, window: list[dict[str, Any]], context: dict | None, trends: dict | None, now: float) -> RoomMoment:
    events = tuple(
        StreamEvent(
            kind=event["kind"], confidence=float(event["confidence"]), at=_iso_to_ts(event["at"]),
            evidence=str(event.get("evidence") or ""),
        )
        for event in (context or {}).get("events", [])
    )
    stamped = [(item["origin"], _iso_to_ts(item["created_at"])) for item in window]
    recent = stamped[-WINDOW_FOR_SHARES:]
    # Bots reacting to bots: the run of bot lines since the last human line or stream event
    # (lines answering the stream are not a bot-to-bot spiral).
    last_event_at = max((event.at for event in events), default=0.0)
    chain = 0
    for origin, at in reversed(stamped):
        if origin != "bot" or at <= last_event_at:
            break
        chain += 1
    running = set((trends or {}).get("emote_waves", [])) | {t["term"] for t in (trends or {}).get("top_terms", [])[:5]}
    running |= {keyword.lower() for keyword in (context or {}).get("keywords", [])}
    return RoomMoment(
        events=events,
        humans_recent=sum(1 for origin, at in recent if origin == "human" and now - at < HUMAN_RECENT_SECONDS),
        bot_share=sum(1 for origin, _ in recent if origin == "bot") / len(recent) if recent else 0.0,
        bot_chain=chain,
        seconds_since_last_message=now - stamped[-1][1] if stamped else None,
        running=frozenset(running),
    )


def _fresh_events(*, moment: RoomMoment, now: float, since_own_post: float | None) -> list[StreamEvent]:
    """The stream events a persona has not had a chance to react to: recent, and after its last post."""
    last_post_at = now - since_own_post if since_own_post is not None else 0.0
    fresh_after = max(now - EVENT_FRESH_SECONDS, last_post_at)
    return [event for event in moment.events if event.at > fresh_after]


def _reacting_to(*, moment: RoomMoment, now: float, since_own_post: float | None) -> dict[str, str] | None:
    """The moment a posting persona reacts to (the latest fresh event), for its prompt; None if none."""
    fresh = _fresh_events(moment=moment, now=now, since_own_post=since_own_post)
    if not fresh:
        return None
    latest = max(fresh, key=lambda event: event.at)  # the context lists events in detection order
    return {"kind": latest.kind, "evidence": latest.evidence[:200]}


def _policy_input(
    *, member: RosterMember, cast: RoomCast, moment: RoomMoment, now: float, own_posts: tuple[int, float | None]
) -> PolicyInput:
    posts, since = own_posts
    return PolicyInput(
        chattiness=member.chattiness,
        hype_sensitivity=member.hype_sensitivity,
        bot_affinity=member.bot_affinity,
        max_posts_per_minute=member.max_posts_per_minute,
        hype_multiplier=cast.hype_multiplier,
        bot_human_bias=cast.bot_human_bias,
        fresh_events=tuple((event.kind, event.confidence) for event in _fresh_events(moment=moment, now=now, since_own_post=since)),
        human_messages_recent=moment.humans_recent,
        trend_match=not member.liked.isdisjoint(moment.running),
        own_posts_last_minute=posts,
        seconds_since_own_post=since,
        bot_share_recent=moment.bot_share,
        bot_chain_depth=moment.bot_chain,
        seconds_since_last_message=moment.seconds_since_last_message,
    )


@dataclass(slots=True)  # one per member per tick: slots make it cheaper to build
class TickCandidate:
    """One roster member going through one tick: its decision (which later steps may turn), whether
    it leads the reaction to a stream event, and its generation slot."""

    member: RosterMember
    seconds_since_own_post: float | None
    decision: Decision
    lead: bool = False
    decision_id: str = ""  # given to those that want to post, before they claim a slot
    slot: bool = False

    def turn(self, *, post: bool, reason: str) -> None:
        self.decision = Decision(post=post, probability=self.decision.probability, reasons=[*self.decision.reasons, reason])

    @property
    def outcome(self) -> TickOutcome:
        return TickOutcome(handle=self.member.handle, decision=self.decision, decision_id=self.decision_id if self.slot else None)


def cast_tick(*, room: Room, rng: random.Random | None = None, now: float | None = None) -> list[TickOutcome]:
    """One fast-loop tick of a room: every persona decides; those that post get a generation job.
    The steps, in order: decide, lead a stream event nobody reacts to, claim slots, enqueue."""
    rng = rng or random.Random()
    now = now or time.time()
    cast = room_cast_settings(room=room)
    members = cast_for_room(room=room)
    if not members:
        return []
    window = chat_window(room_slug=room.slug)
    context, trends = context_latest(room=room), trends_latest(room=room)
    bot_posts_last_minute = sum(
        1 for item in window if item["origin"] == "bot" and now - _iso_to_ts(item["created_at"]) < 60
    )
    own_posts = activity.posts_stats_many(room_slug=room.slug, handles=[member.handle for member in members], now=now)
    moment = room_moment(window=window, context=context, trends=trends, now=now)
    candidates = _tick_decide(
        members=members, own_posts=own_posts, cast=cast, moment=moment, now=now, rng=rng,
        room_posts=bot_posts_last_minute,
    )
    wanting = [candidate for candidate in candidates if candidate.decision.post]
    room_full = bot_posts_last_minute + len(wanting) >= cast.max_bot_messages_per_minute
    lead = _tick_lead(room=room, candidates=candidates, moment=moment, now=now, rng=rng, room_full=room_full)
    _tick_claim_slots(room=room, cast=cast, wanting=wanting, lead=lead, now=now)
    _tick_enqueue(room=room, candidates=candidates, moment=moment, now=now, rng=rng)
    outcomes = [candidate.outcome for candidate in candidates]
    _record_decisions([(outcome.handle, outcome.decision) for outcome in outcomes])
    return outcomes


def _tick_decide(
    *, members: list[RosterMember], own_posts: dict[str, tuple[int, float | None]], cast: RoomCast, moment: RoomMoment,
    now: float, rng: random.Random, room_posts: int,
) -> list[TickCandidate]:
    """Every member decides on its own (personas.policy), in roster order; a post that would pass the
    room's cap on bot lines per minute becomes a skip ("room_cap")."""
    candidates = []
    wanting = 0
    for member in members:
        decision = decide(_policy_input(member=member, cast=cast, moment=moment, now=now, own_posts=own_posts[member.handle]), rng)
        candidate = TickCandidate(member=member, seconds_since_own_post=own_posts[member.handle][1], decision=decision)
        if decision.post:
            if room_posts + wanting >= cast.max_bot_messages_per_minute:
                candidate.turn(post=False, reason="room_cap")
            else:
                wanting += 1
        candidates.append(candidate)
    return candidates


def _tick_lead(
    *, room: Room, candidates: list[TickCandidate], moment: RoomMoment, now: float, rng: random.Random, room_full: bool
) -> TickCandidate | None:
    """A notable moment on stream gets at least one reaction: when the newest event is fresh and no
    persona chose to react to it on its own, the most hype-sensitive persona free to post (weighted
    draw; never one at its rate cap, in cooldown or stopped by the anti-loop) leads, once per event
    (claimed in Redis, so later ticks and other workers do not add a second lead). Returns the lead,
    whose decision it turns into a post, or None."""
    fresh = [event for event in moment.events if now - event.at <= EVENT_LEAD_SECONDS]
    if not fresh or room_full:
        return None
    latest = max(fresh, key=lambda event: event.at)
    reacting = any(c.decision.post and f"event:{latest.kind}" in c.decision.reasons for c in candidates)
    free = [c for c in candidates if may_lead(c.decision)]
    if not (reacting or free):
        return None
    if not activity.event_lead_claim(room_slug=room.slug, event_key=f"{latest.kind}@{latest.at:.3f}") or reacting:
        return None  # already led, or the cast is on it by itself (the claim marks it as covered)
    lead = max(free, key=lambda candidate: (candidate.member.hype_sensitivity + 0.01) * rng.random())
    lead.turn(post=True, reason="event_lead")
    lead.lead = True
    return lead


def _tick_claim_slots(
    *, room: Room, cast: RoomCast, wanting: list[TickCandidate], lead: TickCandidate | None, now: float
) -> None:
    """Generation slots (the room's in-flight set in Redis). The lead of a reaction may exceed the
    room's cap by one, like an answer to a human; one Redis step then claims the free slots for as
    many of the others as it can, in roster order."""
    for candidate in [*wanting, *([lead] if lead is not None else [])]:
        candidate.decision_id = uuid.uuid4().hex
    if lead is not None:
        lead.slot = bool(activity.inflight_claim(
            room_slug=room.slug, decision_id=lead.decision_id, limit=cast.max_inflight + 1, now=now
        ))
    claimed = activity.inflight_claim_many(
        room_slug=room.slug, decision_ids=[candidate.decision_id for candidate in wanting], limit=cast.max_inflight, now=now
    )
    for candidate in wanting[:claimed]:
        candidate.slot = True


def _tick_enqueue(*, room: Room, candidates: list[TickCandidate], moment: RoomMoment, now: float, rng: random.Random) -> None:
    """A generation job for each candidate holding a slot, in roster order; a post left without one
    becomes a skip ("room_busy")."""
    for candidate in candidates:
        if candidate.slot:
            persona_generate_enqueue(
                persona_id=candidate.member.persona_id, room_id=room.pk, decision_id=candidate.decision_id, decided_at=now,
                moment=_reacting_to(moment=moment, now=now, since_own_post=candidate.seconds_since_own_post),
                # Jitter, so a stream event does not make the whole cast speak in the same instant; the
                # lead of a reaction goes at once (it is alone by construction).
                countdown=0.0 if candidate.lead else rng.uniform(0.0, settings.PERSONA_JITTER_SECONDS),
            )
        elif candidate.decision.post:
            candidate.turn(post=False, reason="room_busy")


def _record_decision(handle: str, decision: Decision) -> None:
    """An answer to a human's @mention decided (the cast report counts these lines in the worker's log)."""
    logger.info("mention of %s: %s %s", handle, decision.outcome, ",".join(decision.reasons))
    _record_decisions([(handle, decision)])


@lru_cache(maxsize=65536)
def _decision_counter(handle: str, outcome: str):
    """The labelled child of the decisions counter (looking it up per decision cost more than counting)."""
    return metrics.DECISIONS.labels(persona=handle, outcome=outcome)


def _record_decisions(decisions: list[tuple[str, Decision]]) -> None:
    # Prometheus: one increment per distinct label set, not one per decision and reason.
    per_persona = Counter((handle, decision.outcome) for handle, decision in decisions)
    per_reason = Counter(reason.split(":")[0] for _, decision in decisions for reason in decision.reasons)
    for key, count in per_persona.items():
        _decision_counter(*key).inc(count)
    for reason, count in per_reason.items():
        metrics.REASONS.labels(reason=reason).inc(count)
    activity.reasons_count_many(
        decisions=[(handle, decision.reasons, decision.outcome) for handle, decision in decisions]
    )


def line_compose(
    *, member: CastMember, room: Room, reply_to: dict[str, Any] | None = None, moment: dict[str, str] | None = None
) -> tuple[str | None, str]:
    """Ask the LLM for one line as this persona now. Returns (line or None, why)."""
    window = chat_window(room_slug=room.slug)
    context, trends = context_latest(room=room), trends_latest(room=room)
    query = " ".join(((context or {}).get("keywords") or [])[:5] + [item["text"] for item in window[-3:]])
    memories = persona_memories_top_k(room_slug=room.slug, handle=member.handle, query=query, k=settings.PERSONA_MEMORY_TOP_K)
    narrative = persona_narrative_cached(handle=member.handle)
    system = system_prompt(member.view)
    user = user_prompt(
        context=context, trends=trends, chat_window=window, reply_to=reply_to, narrative=narrative, memories=memories,
        moment=moment,
    )
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    raw = llm_chat(
        messages=messages,
        temperature=member.view.temperature,
        max_tokens=80,
        timeout=settings.PERSONA_LLM_TIMEOUT,
        purpose="persona_line",
    )
    line, why = line_check(
        raw=raw, handle=member.handle, system_prompt=system, user_prompt=user,
        recent_own=activity.recent_lines(room_slug=room.slug, handle=member.handle),
    )
    if line is None:
        llm_answer_refused(purpose="persona_line", reason=why)
    return line, why


def persona_generate(
    *, room: Room, persona_id: int, decision_id: str, decided_at: float, reply_to: dict[str, Any] | None = None,
    moment: dict[str, str] | None = None,
) -> Message | None:
    """Generate and post one line for a decision. Quiet (None) on any failure: never breaks the room."""
    try:
        member = cast_member(room=room, persona_id=persona_id)
        if member is None:
            _quiet("off_roster")  # disabled or removed since the tick: the change applies at once
            return None
        posted = Message.objects.filter(author_key=f"bot:{member.handle}", client_id=f"decision-{decision_id}").first()
        if posted is not None:
            return posted  # a redelivered task: the line went out already; no second model call
        if time.time() - decided_at > settings.PERSONA_STALE_SECONDS:
            _quiet("stale")
            return None
        if reply_to is not None and not Message.objects.filter(id=reply_to.get("id")).exists():
            _quiet("reply_deleted")  # a moderator deleted the line it would answer
            return None
        try:
            line, why = line_compose(member=member, room=room, reply_to=reply_to, moment=moment)
        except ChatterError as error:
            logger.warning("persona=%s room=%s quiet: llm %s", member.handle, room.slug, error.message)
            _quiet("llm_error")
            return None
        if line is None:
            _quiet(f"presend_{why}")
            return None
        if time.time() - decided_at > settings.PERSONA_STALE_SECONDS:
            llm_answer_refused(purpose="persona_line", reason="stale")
            _quiet("stale")  # the moment passed while the model was thinking
            return None
        if reply_to is not None and not line.lower().startswith(f"@{reply_to['author']['name'].lower()}"):
            line = f"@{reply_to['author']['name']} {line}"
        try:
            message = message_ingest(
                draft=draft_parse(
                    {
                        "room": room.slug,
                        "origin": "bot",
                        "author": {"name": member.handle, "color": member.view.color, "badges": list(member.view.badges)},
                        "author_key": f"bot:{member.handle}",
                        "text": line,
                        "client_id": f"decision-{decision_id}",  # a redelivered task posts nothing new
                        "reply_to": reply_to["id"] if reply_to else None,
                        "correlation_id": current_correlation_id() or new_correlation_id(),  # the job's, when it has one
                    }
                )
            )
        except ChatterError as error:
            _quiet(f"gateway_{error.code}")
            return None
        activity.post_record(room_slug=room.slug, handle=member.handle, line=line)
        metrics.POSTS.labels(persona=member.handle, room=room.slug).inc()
        metrics.GENERATIONS.labels(outcome="posted").inc()
        metrics.GENERATION_SECONDS.observe(time.time() - decided_at)
        return message
    finally:
        activity.inflight_release(room_slug=room.slug, decision_id=decision_id)


def _quiet(outcome: str) -> None:
    logger.info("generation quiet: %s", outcome)
    metrics.GENERATIONS.labels(outcome=outcome).inc()


def _reply_authors(*, room: Room, messages: list[dict[str, Any]]) -> dict[str, str]:
    """Lowercased persona handle behind each replied-to message id (one query for the batch)."""
    ids = {str(message["reply_to"]) for message in messages if message.get("reply_to")}
    if not ids:
        return {}
    rows = Message.objects.filter(room=room, pk__in=ids, author_key__startswith="bot:").values_list("pk", "author_key")
    return {str(pk): key.removeprefix("bot:").lower() for pk, key in rows}


def persona_mentions_answer(
    *, room_slug: str, messages: list[dict[str, Any]], rng: random.Random | None = None,
    correlation_ids: dict[str, str] | None = None,
) -> int:
    """A human who @mentions a persona on the roster, or replies to its line, gets an answer from it
    within seconds, with the persona's `mention_reaction` as the chance (1.0: always; a moderator's
    knob in admin and YAML), even past its max posts per minute up to `mention_ceiling`."""
    rng = rng or random.Random()
    room = Room.objects.filter(slug=room_slug).first()
    if room is None:
        return 0
    handles = {member.handle.lower(): member for member in cast_for_room(room=room)}
    queued = 0
    now = time.time()
    cast = room_cast_settings(room=room)
    replied_to = _reply_authors(room=room, messages=messages)
    for message in messages:
        if message["origin"] != "human":
            continue
        addressed = [mention.lower() for mention in message.get("mentions", [])]
        if message.get("reply_to") and replied_to.get(str(message["reply_to"])):
            addressed.append(replied_to[str(message["reply_to"])])
        for handle in dict.fromkeys(addressed):  # a reply that also @mentions gets one answer
            member = handles.get(handle)
            if member is None:
                continue
            posts, _ = activity.posts_stats(room_slug=room_slug, handle=member.handle, now=now)
            if posts >= mention_ceiling(member.max_posts_per_minute):
                _record_decision(member.handle, Decision(post=False, probability=0.0, reasons=["mentioned", "rate_cap"]))
                continue
            if rng.random() >= member.mention_reaction:
                _record_decision(
                    member.handle, Decision(post=False, probability=member.mention_reaction, reasons=["mentioned", "mention_reaction"])
                )
                continue
            decision_id = uuid.uuid4().hex
            # Answers to humans may exceed the room's generation cap by one: they are the point.
            activity.inflight_claim(room_slug=room_slug, decision_id=decision_id, limit=cast.max_inflight + 1, now=now)
            # The answer's job, LLM call and line carry the id of the message that asked for it.
            token = bind_correlation_id((correlation_ids or {}).get(str(message.get("seq"))) or current_correlation_id())
            try:
                persona_generate_enqueue(
                    persona_id=member.persona_id, room_id=room.pk, decision_id=decision_id, decided_at=now,
                    reply_to=message, countdown=random.uniform(0.2, 1.5),
                )
            finally:
                reset_correlation_id(token)
            _record_decision(member.handle, Decision(post=True, probability=member.mention_reaction, reasons=["mentioned"]))
            queued += 1
    return queued


def persona_preview_line(*, room: Room, persona_id: int) -> str:
    """What the persona would say now in this room, without posting (admin's "preview a line")."""
    member = cast_member(room=room, persona_id=persona_id)
    if member is None:
        raise ChatterError(ErrorCode.NOT_FOUND, "the persona is not enabled on this room's roster")
    line, why = line_compose(member=member, room=room)
    if line is None:
        raise ChatterError(ErrorCode.INVALID, f"the model's line was refused by the pre-send checks ({why})")
    return line
