#!/usr/bin/env python
"""Cast report: one room with the scripted stream and scripted human viewers, the demo cast ticking,
and how the cast behaved, measured from what reached the database.

    python bench/cast_report.py                      # 2 minutes, offline LLM provider
    python bench/cast_report.py --minutes 5
    OPENAI_BASE_URL=http://host:port/v1 OPENAI_API_KEY=... python bench/cast_report.py

What runs (this machine, loopback only, bounded by --minutes, at most MAX_MINUTES):
- a fresh room (unique slug) with the demo cast's roster and cast knobs (personas.demo_cast);
- the offline OpenAI-compatible provider as a subprocess (`python -m chatter_site.lib.offline_llm`),
  unless OPENAI_BASE_URL is set, in which case that endpoint is used;
- a real Celery worker subprocess (queues default,llm,reflection,scribe; -c 2) with the same env:
  it generates the lines (persona_generate_task) and answers @mentions (persona_mentions_task);
- the scripted stream (streamctx/scripts/demo.txt, looped, real time) through StreamContextSession
  in a thread, publishing contexts to Redis and StreamContextRecord;
- the fast loop in the main thread: cast_tick on the room every second (and the trends snapshot
  every 5 s, as the beat would);
- scripted human viewers (bench/_viewers.py) posting through message_ingest about every 6 s; some
  @mention a persona, mostly to tell it something about themselves (what to remember).

Reported afterwards, from chat.Message and StreamContextRecord:
- stream events (deduplicated by kind+at) followed by a bot line within 5 s of the event reaching
  the room (the first published context carrying it; a long spoken line is only transcribed at its
  end): any bot line, and a "related" one (sharing a word with the event's evidence/the context's
  keywords); target >= 90 %. The same counted from the moment the words were said is printed too.
- human @mentions of a persona answered by that persona within 10 s;                   target >= 90 %
- the longest bot-only reply chain (consecutive bot messages each @mentioning or replying to a bot); target <= 3
- posts per minute per persona, bot share of all messages against RoomCast.bot_human_bias,
- distinctness: mean pairwise Jensen-Shannon divergence (base 2, 0..1) of the personas' word
  distributions, and mean pairwise 1 - Jaccard of their vocabularies.

PostgreSQL: DATABASE_URL (default the `test` database, migrated); Redis: REDIS_URL (default db 3,
which is FLUSHED at the start). The bench's room stays in the database (its slug is printed).
"""
from __future__ import annotations

import argparse
import itertools
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._cast_misses import TickLog, misses_explain, misses_print, worker_outcomes_print  # noqa: E402
from bench._child import Child, free_port  # noqa: E402
from bench._viewers import viewers_create  # noqa: E402

MAX_MINUTES = 10.0
EVENT_WINDOW = 5.0
MENTION_WINDOW = 10.0
EVENT_TARGET = 0.90
SAID_WINDOW = 15.0  # how long after the words were said a related line still counts
SAID_MEDIAN_TARGET, SAID_P90_TARGET = 5.0, 7.0
DISTINCT_TARGET = 0.90
EMOTE_NAMES = set(
    "PogChamp HYPERS Pog Clap Kreygasm Kappa FeelsGoodMan PauseChamp BibleThump 5Head EZ monkaS LUL catJAM "
    "ResidentSleeper Sadge KEKW OMEGALUL PepeHands GG NotLikeThis".split()
)
MENTION_TARGET = 0.90
CHAIN_TARGET = 3
HUMAN_INTERVAL = 6.0
SECRET_KEY = "bench-cast-report-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz"
WORD_RE = re.compile(r"[a-z][a-z']+")
STOPWORDS = set(
    "the a an and or but to of in on at for is it this that was we he she i you they be are so not with as "
    "have has had do did just get got go going its it's i'm im what who how why when where there here my your "
    "our his her their them me us no yes okay ok oh let's lets let chat guys one all can will would should "
    "about like from out up now then than if into over again been very really".split()
)

def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')


# --------------------------------------------------------------------------------------------
# Setup
# --------------------------------------------------------------------------------------------
def room_seed(slug: str):
    """A fresh room with the demo cast (same personas as the demo room, their cards reset to DEMO_CAST)
    and the demo cast knobs."""
    from django.db import transaction

    from chat.services import room_create
    from personas.demo_cast import DEMO_CAST, DEMO_ROOM_CAST
    from personas.models import Persona, RoomCast, RosterEntry

    with transaction.atomic():
        room = room_create(slug=slug, title=f"cast report {slug}")
        for spec in DEMO_CAST:
            # The cards as the code has them now, on a reused database too: the report measures this cast.
            persona, _ = Persona.objects.update_or_create(
                handle=spec["handle"], defaults={key: value for key, value in spec.items() if key != "handle"}
            )
            RosterEntry.objects.get_or_create(room=room, persona=persona)
        RoomCast.objects.get_or_create(room=room, defaults=DEMO_ROOM_CAST)
    return room


# --------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------
def words(text: str) -> list[str]:
    return [w for w in WORD_RE.findall(text.lower()) if w not in STOPWORDS and len(w) > 2]


def js_divergence(a: Counter, b: Counter) -> float:
    total_a, total_b = sum(a.values()), sum(b.values())
    if not total_a or not total_b:
        return float("nan")
    result = 0.0
    for word in set(a) | set(b):
        p, q = a[word] / total_a, b[word] / total_b
        m = (p + q) / 2
        if p:
            result += 0.5 * p * math.log2(p / m)
        if q:
            result += 0.5 * q * math.log2(q / m)
    return result


def analyse(*, room, started, ended, handles: list[str]) -> dict[str, Any]:
    from chat.models import Message
    from personas.models import RoomCast
    from streamctx.models import StreamContextRecord

    messages = list(Message.objects.filter(room=room).order_by("seq"))
    bots = [m for m in messages if m.origin == "bot"]
    humans = [m for m in messages if m.origin == "human"]
    by_id = {m.id: m for m in messages}
    handle_set = {h.lower() for h in handles}
    bot_ts = [(m.created_at.timestamp(), m) for m in bots]

    # --- stream events -> bot line within 5 s
    events: dict[tuple[str, str], dict[str, Any]] = {}
    for record in StreamContextRecord.objects.filter(room=room).order_by("seq"):
        for event in record.payload.get("events", []):
            key = (event["kind"], event["at"])
            if key not in events:
                evidence = event.get("evidence") or ""
                if not isinstance(evidence, str):
                    evidence = " ".join(map(str, evidence)) if isinstance(evidence, list) else str(evidence)
                vocabulary = set(words(evidence)) | {w.lower() for k in record.payload.get("keywords", []) for w in words(k)}
                vocabulary |= set(words(event["kind"].replace("_", " ")))
                # Known to the room when the first context carrying it was published: the words of a
                # long line are only all heard (and transcribed) at its end.
                events[key] = {"kind": event["kind"], "at": event["at"], "vocab": vocabulary, "known": record.at.timestamp(),
                               "evidence": evidence}
    from datetime import datetime

    cutoff = ended.timestamp() - EVENT_WINDOW  # events too close to the end cannot be judged
    judged = []  # (kind, any line, related line) within EVENT_WINDOW of the event being published
    judged_said = []  # the same, counted from the moment the words were said on stream
    for event in events.values():
        at = datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp()
        if event["known"] > cutoff or at < started.timestamp():
            continue
        for start, into in ((event["known"], judged), (at, judged_said)):
            following = [m for t, m in bot_ts if start <= t <= start + EVENT_WINDOW]
            related = [m for m in following if set(words(m.text)) & event["vocab"]]
            into.append((event["kind"], bool(following), bool(related)))
    published_after = sorted(
        event["known"] - datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp() for event in events.values()
    )
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for kind, any_line, related in judged:
        per_kind[kind][0] += 1
        per_kind[kind][1] += any_line
        per_kind[kind][2] += related

    # --- human mentions -> answered by that persona within 10 s
    # A persona already at its max posts per minute may stay silent (SPEC 6.1: "unless it is muted or
    # rate-limited"); those mentions are counted apart, and still count against the target.
    from personas.models import RosterEntry

    budget = {
        entry.persona.handle.lower(): entry.max_posts_per_minute or entry.persona.max_posts_per_minute
        for entry in RosterEntry.objects.filter(room=room).select_related("persona")
    }
    mention_total = mention_answered = mention_rate_limited = 0
    for message in humans:
        t = message.created_at.timestamp()
        if t > ended.timestamp() - MENTION_WINDOW:
            continue
        for mention in message.mentions:
            if mention.lower() not in handle_set:
                continue
            mention_total += 1
            earlier = sum(1 for tb, m in bot_ts if m.author_name.lower() == mention.lower() and t - 60 < tb < t)
            mention_rate_limited += earlier >= budget.get(mention.lower(), 0)
            if any(
                m.author_name.lower() == mention.lower() and t <= tb <= t + MENTION_WINDOW
                for tb, m in bot_ts
            ):
                mention_answered += 1

    # --- longest bot-only reply chain
    def to_bot(m) -> bool:
        if any(h.lower() in handle_set and h.lower() != m.author_name.lower() for h in m.mentions):
            return True
        parent = by_id.get(m.reply_to) if m.reply_to else None
        return parent is not None and parent.origin == "bot"

    longest = run = 0
    longest_bot_run = bot_run = 0
    for m in messages:
        if m.origin == "bot":
            bot_run += 1
            run = run + 1 if to_bot(m) else 0
        else:
            bot_run = run = 0
        longest, longest_bot_run = max(longest, run), max(longest_bot_run, bot_run)

    # --- rates, share, distinctness
    minutes = max((ended - started).total_seconds() / 60.0, 1e-9)
    per_persona = Counter(m.author_name for m in bots)
    vocab = {h: Counter(w for m in bots if m.author_name == h for w in words(m.text)) for h in handles}
    speaking = [h for h in handles if vocab[h]]
    pairs = list(itertools.combinations(speaking, 2))
    jsd = [js_divergence(vocab[a], vocab[b]) for a, b in pairs]
    jacc = [1 - len(set(vocab[a]) & set(vocab[b])) / len(set(vocab[a]) | set(vocab[b])) for a, b in pairs]
    cast = RoomCast.objects.get(room=room)
    said = reaction_delays(events=events, bot_ts=bot_ts, started=started.timestamp(), cutoff=ended.timestamp() - SAID_WINDOW)
    return {
        "said_delays": said, "events_raw": events, "bot_messages": bots, "voices": voices(bots, handles), "variety": variety(bots, handles, events),
        "messages": len(messages), "bots": len(bots), "humans": len(humans), "minutes": minutes,
        "events": len(judged), "events_any": sum(1 for _, a, _ in judged if a), "events_related": sum(1 for *_, r in judged if r),
        "said_any": sum(1 for _, a, _ in judged_said if a), "said_related": sum(1 for *_, r in judged_said if r),
        "published_after_median": published_after[len(published_after) // 2] if published_after else float("nan"),
        "per_kind": dict(per_kind),
        "mentions": mention_total, "mentions_answered": mention_answered, "mentions_rate_limited": mention_rate_limited,
        "chain": longest, "bot_run": longest_bot_run,
        "per_persona": {h: per_persona.get(h, 0) / minutes for h in handles},
        "bot_share": len(bots) / len(messages) if messages else 0.0, "bias": cast.bot_human_bias,
        "jsd": sum(jsd) / len(jsd) if jsd else float("nan"), "jaccard": sum(jacc) / len(jacc) if jacc else float("nan"),
        "speaking": len(speaking),
    }


def reaction_delays(*, events: dict, bot_ts: list, started: float, cutoff: float) -> list[float | None]:
    """Per stream event, seconds from when its words were said (the event's `at`) to the first related
    bot line (sharing a word with its evidence or the context's keywords); None when none came within
    SAID_WINDOW."""
    from datetime import datetime

    delays: list[float | None] = []
    for event in events.values():
        at = datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp()
        if at < started or at > cutoff:
            continue
        related = [t for t, m in bot_ts if at <= t <= at + SAID_WINDOW and set(words(m.text)) & event["vocab"]]
        delays.append(min(related) - at if related else None)
    return delays


def strip_emotes(text: str, emotes: set[str]) -> str:
    return " ".join(w for w in text.split() if w not in emotes and not w.startswith("@")).strip()


def voices(bots: list, handles: list[str]) -> dict[str, dict[str, Any]]:
    """Per persona: words per line (emotes and @names left out), emote rate, share of lines in caps and
    of lines that are sentences (capital first, closing punctuation), against the card's word range."""
    from chatter_site.lib.offline_llm.voice import voice_from_card
    from personas.demo_cast import DEMO_CAST

    cards = {spec["handle"]: spec for spec in DEMO_CAST}
    result = {}
    for handle in handles:
        card = cards[handle]
        emotes = set(card["emotes"]) | EMOTE_NAMES
        lines = [m.text for m in bots if m.author_name == handle]
        texts = [strip_emotes(t, emotes) for t in lines]
        counts = sorted(len(t.split()) for t in texts if t)
        voice = voice_from_card(card)
        letters = [re.sub(r"[^A-Za-z]", "", t) for t in texts]
        result[handle] = {
            "lines": len(lines),
            "card_words": f"{voice.min_words}-{voice.max_words}",
            "median_words": counts[len(counts) // 2] if counts else 0,
            "in_range": sum(voice.min_words <= n <= voice.max_words for n in counts) / len(counts) if counts else 0.0,
            "emote_rate": sum(1 for t in lines if set(t.split()) & emotes) / len(lines) if lines else 0.0,
            "caps": sum(1 for word in letters if word and word == word.upper()) / len(letters) if letters else 0.0,
            "sentences": sum(1 for t in texts if t[:1].isupper() and t.rstrip()[-1:] in ".?!") / len(texts) if texts else 0.0,
        }
    return result


def variety(bots: list, handles: list[str], events: dict) -> dict[str, Any]:
    """Distinct lines after removing emotes and @names; skeletons (stream words masked) by persona."""
    stream_words = set()
    for event in events.values():
        stream_words |= event["vocab"]
    texts = [(m.author_name, strip_emotes(m.text, EMOTE_NAMES).lower()) for m in bots]
    distinct = len({t for _, t in texts})
    skeletons: dict[str, set[str]] = defaultdict(set)
    for handle, text in texts:
        skeleton = re.sub(r"\d+(?:[.:/]\d+)*%?", "#", " ".join("_" if w.strip(".,!?") in stream_words else w for w in text.split()))
        skeletons[skeleton].add(handle)
    widest = max((len(h) for h in skeletons.values()), default=0)
    return {"lines": len(texts), "distinct": distinct, "skeletons": len(skeletons), "widest_skeleton": widest,
            "shared_by_3plus": sum(1 for h in skeletons.values() if len(h) > 2)}


def pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:5.1f} %" if whole else "   n/a"


def report(r: dict[str, Any], *, slug: str, provider: str, load: list[float], tick: dict[str, float]) -> bool:
    def verdict(ok: bool) -> str:
        return "MET" if ok else "MISSED"

    print(f"\ncast report  room={slug}  provider={provider}  ran {r['minutes']:.2f} min  cpus={os.cpu_count()}  "
          f"load avg before={load[0]}/{load[1]}/{load[2]} after={'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"messages {r['messages']} (bot {r['bots']}, human {r['humans']});  ticks {tick['n']}, "
          f"tick wall p50 {tick['p50']*1000:.1f} ms, max {tick['max']*1000:.1f} ms")
    print("\n  metric                                             value        target   verdict")
    print("  " + "-" * 84)
    ev_ok = r["events"] > 0 and r["events_any"] / r["events"] >= EVENT_TARGET
    rel_ok = r["events"] > 0 and r["events_related"] / r["events"] >= EVENT_TARGET
    men_ok = r["mentions"] > 0 and r["mentions_answered"] / r["mentions"] >= MENTION_TARGET
    ch_ok = r["chain"] <= CHAIN_TARGET
    print(f"  stream events → any bot line ≤5 s ({r['events_any']}/{r['events']:<3})           {pct(r['events_any'], r['events'])}     ≥ 90 %   {verdict(ev_ok)}")
    print(f"  stream events → related bot line ≤5 s ({r['events_related']}/{r['events']:<3})       {pct(r['events_related'], r['events'])}     ≥ 90 %   {verdict(rel_ok)}")
    print(f"  (counted from when the words were said: any {pct(r['said_any'], r['events'])}, related "
          f"{pct(r['said_related'], r['events'])}; events reach the room a median {r['published_after_median']:.1f} s after "
          f"they are said, when the line that carries them ends)")
    print(f"  human @mentions answered by persona ≤10 s ({r['mentions_answered']}/{r['mentions']:<3})   {pct(r['mentions_answered'], r['mentions'])}     ≥ 90 %   {verdict(men_ok)}")
    print(f"  (of them, to a persona at its max posts per minute)  {r['mentions_rate_limited']:>5}")
    print(f"  longest bot-only reply chain                         {r['chain']:>5}        ≤ 3      {verdict(ch_ok)}")
    print(f"  (longest run of consecutive bot messages, any)       {r['bot_run']:>5}")
    print(f"  bot share of all messages                          {100*r['bot_share']:5.1f} %     (bot_human_bias {r['bias']:.2f}: "
          f"1 = cast leans to humans)")
    print(f"  distinctness, mean pairwise JSD (0..1)              {r['jsd']:6.3f}       ({r['speaking']} personas spoke)")
    print(f"  distinctness, mean pairwise 1 - Jaccard (0..1)      {r['jaccard']:6.3f}")
    print("\n  events by kind          n   any≤5s  related≤5s")
    for kind, (n, a, rel) in sorted(r["per_kind"].items()):
        print(f"  {kind:<20} {n:>4}   {a:>6}  {rel:>10}")
    print("\n  persona               posts/min")
    for handle, rate in sorted(r["per_persona"].items(), key=lambda kv: -kv[1]):
        print(f"  {handle:<20} {rate:9.2f}")
    delays = r["said_delays"]
    got = sorted(d for d in delays if d is not None)
    median = got[len(got) // 2] if len(got) == len(delays) or len(got) > len(delays) / 2 else float("inf")
    within = sum(1 for d in got if d <= SAID_P90_TARGET)
    said_ok = bool(delays) and median <= SAID_MEDIAN_TARGET and within >= 0.9 * len(delays)
    print(f"\n  from when the words were said ({len(delays)} events): first related line median {median:.1f} s "
          f"(≤ {SAID_MEDIAN_TARGET:g} s), within {SAID_P90_TARGET:g} s {pct(within, len(delays))} (≥ 90 %)   {verdict(said_ok)}")
    v = r["variety"]
    distinct_ok = v["lines"] > 0 and v["distinct"] / v["lines"] >= DISTINCT_TARGET
    skeleton_ok = v["widest_skeleton"] <= 2
    print(f"  distinct bot lines after removing emotes ({v['distinct']}/{v['lines']})        {pct(v['distinct'], v['lines'])}     ≥ 90 %   {verdict(distinct_ok)}")
    print(f"  skeletons (stream words masked) {v['skeletons']}, most personas on one skeleton   {v['widest_skeleton']:>5}        ≤ 2      {verdict(skeleton_ok)}")
    print("\n  persona               lines  card words  median  in range  emote rate  caps   sentences")
    for handle, row in r["voices"].items():
        print(f"  {handle:<20} {row['lines']:>6}  {row['card_words']:>10}  {row['median_words']:>6}  {100*row['in_range']:6.0f} %"
              f"  {100*row['emote_rate']:8.0f} %  {100*row['caps']:4.0f} %  {100*row['sentences']:6.0f} %")
    ok = ev_ok and men_ok and ch_ok
    print(f"\n  targets (events any-line, mentions, chain): {'all MET' if ok else 'some MISSED'}")
    print(f"  targets (said→related, distinct, skeletons): {'all MET' if said_ok and distinct_ok and skeleton_ok else 'some MISSED'}")
    return ok


# --------------------------------------------------------------------------------------------
def samples_write(*, room, handles: list[str], out: Path, seed: int) -> None:
    """Blind-read samples, without persona names or anything else that says where a line came from:
    100 bot lines spread over personas and over the run, 30 memories, 10 narratives."""
    from chat.models import Message
    from memory.models import MemoryItem
    from memory.services.narratives import narrative_regenerate
    from memory.services.reflection import reflection_flush

    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    bots = list(Message.objects.filter(room=room, origin="bot").order_by("seq"))
    by_persona = {h: [m for m in bots if m.author_name == h] for h in handles}
    picked: list = []
    while len(picked) < min(100, len(bots)):
        for handle in handles:  # round robin over personas, evenly spaced through each one's run
            lines = by_persona[handle]
            taken = sum(1 for m in picked if m.author_name == handle)
            if taken < len(lines) and len(picked) < 100:
                step = max(1, len(lines) // 10)
                index = (taken * step + rng.randrange(step)) % len(lines)
                candidates = [m for m in lines[index:] + lines[:index] if m not in picked]
                if candidates:
                    picked.append(candidates[0])
    rng.shuffle(picked)
    (out / "blind_lines_sample.txt").write_text("".join(f"{i}. {m.text}\n" for i, m in enumerate(picked, 1)))

    reflection_flush(force=True)
    deadline = time.monotonic() + 120
    from memory.models import ReflectionJob

    while ReflectionJob.objects.filter(room_slug=room.slug, status__in=["pending", "running", "failed"]).exists():
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    items = list(MemoryItem.objects.filter(room_slug=room.slug, status=MemoryItem.Status.ACTIVE).order_by("created_at"))
    rng.shuffle(items)
    chosen = sorted(items[:30], key=lambda i: i.created_at)
    lines = [f"{i}. [{item.handle}] about {item.subject or item.other_user or '-'}: {item.text}" for i, item in enumerate(chosen, 1)]
    narratives = []
    viewers = [("viewer", u) for u in sorted({i.other_user for i in items if i.other_user})]
    subjects = [("persona", h) for h in handles[:10 - min(3, len(viewers))]] + viewers[:3] + [("persona", h) for h in handles[7:]]
    for subject_type, key in subjects:
        if len(narratives) >= 10:
            break
        row = narrative_regenerate(subject_type=subject_type, subject_key=key, min_sources=2)
        if row is not None:
            narratives.append(row.text)
    text = "Memories\n\n" + "\n".join(lines) + "\n\nNarratives\n\n" + "\n\n".join(f"{i}. {t}" for i, t in enumerate(narratives, 1)) + "\n"
    (out / "blind_memories_sample.txt").write_text(text)
    print(f"\n  samples: {len(picked)} lines, {len(chosen)} of {len(items)} memories, {len(narratives)} narratives in {out}")


# --------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--minutes", type=float, default=2.0, help=f"length of the run (max {MAX_MINUTES:g})")
    parser.add_argument("--room-slug", default=None, help="room slug (default a fresh cast-report-<hex>; must not exist)")
    parser.add_argument("--viewers", type=int, default=4, help="scripted human users (1..20)")
    parser.add_argument("--human-interval", type=float, default=HUMAN_INTERVAL, help="seconds between human messages")
    parser.add_argument("--mention-share", type=float, default=0.4, help="share of human messages @mentioning a persona")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3"), help="FLUSHED at start")
    parser.add_argument("--skip-migrate", action="store_true")
    parser.add_argument("--samples-dir", default=None,
                        help="also run reflection and write blind-read samples (100 bot lines, 30 memories, 10 narratives) here")
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--explain", action="store_true", help="list every stream event missed within 7 s of being said, and why")
    args = parser.parse_args(argv)
    if not 0.1 <= args.minutes <= MAX_MINUTES:
        parser.error(f"--minutes 0.1..{MAX_MINUTES:g}")
    if not 1 <= args.viewers <= 20 or not 1.0 <= args.human_interval <= 60 or not 0 <= args.mention_share <= 1:
        parser.error("--viewers 1..20, --human-interval 1..60, --mention-share 0..1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-cast-"))
    log_dir = work / "logs"
    log_dir.mkdir()
    children: list[Child] = []
    stop = threading.Event()

    def _terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "chatter_site.settings",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "CHATTER_SECRET_KEY": os.environ.get("CHATTER_SECRET_KEY", SECRET_KEY),
            "CHATTER_VAR_DIR": str(work / "var"),
            "CHATTER_LOG_LEVEL": os.environ.get("CHATTER_LOG_LEVEL", "WARNING"),
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if args.samples_dir and not os.environ.get("CHATTER_VECTOR_STORE"):
            # Memories need a vector store: a Chroma server of the run's own, as runchatter starts.
            from chatter_site.lib.runner import chroma_answers, chroma_command

            chroma_port = free_port()
            env.update({"CHATTER_VECTOR_STORE": f"chroma://127.0.0.1:{chroma_port}",
                        "CHATTER_MEMORY_COLLECTION": f"cast_{uuid.uuid4().hex[:6]}"})
            chroma = Child("chroma", chroma_command(host="127.0.0.1", port=chroma_port, path=work / "chroma"), env, log_dir)
            children.append(chroma)
            deadline = time.monotonic() + 60
            while not chroma_answers("127.0.0.1", chroma_port):
                if time.monotonic() > deadline:
                    raise RuntimeError("the Chroma server did not answer within 60 s")
                time.sleep(0.3)
        if os.environ.get("OPENAI_BASE_URL"):
            provider = os.environ["OPENAI_BASE_URL"]
        else:
            port = free_port()
            llm = Child("offline-llm", [sys.executable, "-m", "chatter_site.lib.offline_llm", "--port", str(port)], env, log_dir)
            children.append(llm)
            llm.wait_for_log("listening on", timeout=30)
            provider = f"http://127.0.0.1:{port}/v1"
            env.update({"OPENAI_BASE_URL": provider, "OPENAI_API_KEY": env.get("OPENAI_API_KEY") or "offline"})
            provider = f"offline ({provider})"
        os.environ.clear()
        os.environ.update(env)

        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
        ensure_database(args.database_url)
        import django

        django.setup()
        import logging

        logging.getLogger("chatter").setLevel(logging.WARNING)
        from django.core.management import call_command

        if not args.skip_migrate:
            call_command("migrate", interactive=False, verbosity=0)

        from django.conf import settings

        from chat.models import Room
        from chat.services import human_draft, message_ingest, trends_snapshot_publish
        from chatter_site.lib.errors import ChatterError
        from personas.demo_cast import DEMO_CAST
        from personas.services import cast_tick
        from streamctx.pipeline import StreamContextSession, new_source_id, paced
        from streamctx.scripted import script_load, script_playback

        run_id = uuid.uuid4().hex[:8]
        slug = args.room_slug or f"cast-report-{run_id}"
        if Room.objects.filter(slug=slug).exists():
            print(f"room {slug} exists: pick a fresh --room-slug", file=sys.stderr)
            return 2
        room = room_seed(slug)
        handles = [spec["handle"] for spec in DEMO_CAST]
        viewers = viewers_create(f"cr{run_id}", args.viewers)

        worker = Child(
            "celery",
            [sys.executable, "-m", "celery", "-A", "chatter_site", "worker", "-Q", "default,llm,reflection,scribe", "-c", "2",
             "-n", f"bench-cast-{run_id}@%h", "--without-mingle", "--without-gossip", "-l", "INFO"],
            {**env, "CHATTER_LOG_LEVEL": "INFO"},  # its mention decisions and quiet generations, counted afterwards
            log_dir,
        )
        children.append(worker)
        worker.wait_for_log(" ready.", timeout=90)

        segments = script_load(ROOT / "streamctx" / "scripts" / "demo.txt")
        session = StreamContextSession(
            room=room, source_id=new_source_id("bench"), window_seconds=settings.STREAMCTX_WINDOW_SECONDS,
            cadence=settings.STREAMCTX_CADENCE_SECONDS,
        )
        seconds = args.minutes * 60.0
        stream_error: list[BaseException] = []

        def stream() -> None:
            try:
                playback = script_playback(segments, loop=True, split_at_pauses=True)  # as runchatter plays it
                session.run(paced(playback, speed=1.0, stop=stop), max_seconds=seconds + 5, stop=stop)
            except BaseException as exc:  # noqa: BLE001 - reported after the run
                stream_error.append(exc)
            finally:
                from django.db import connection

                connection.close()

        from django.utils import timezone

        started = timezone.now()
        thread = threading.Thread(target=stream, name="bench-stream", daemon=True)
        thread.start()
        rng = random.Random(args.seed)
        tick_times: list[float] = []
        tick_log = TickLog()
        refused = Counter()
        t0 = time.monotonic()
        next_tick = next_human = t0 + 1.0
        next_trends = t0
        n_human = 0
        next_witness = next_flush = t0 + 2.0
        if args.samples_dir:
            from memory.services.reflection import reflection_flush
            from personas.witness import witnessed_collect
        print(f"running {args.minutes:g} min in room {slug} ...", flush=True)
        while (now := time.monotonic()) < t0 + seconds:
            if stream_error:
                raise stream_error[0]
            if now >= next_tick:
                began = time.perf_counter()
                tick_log.record(at=time.time(), outcomes=cast_tick(room=room, rng=rng))
                tick_times.append(time.perf_counter() - began)
                next_tick += 1.0
            if now >= next_trends:
                trends_snapshot_publish(room=room)
                next_trends += 5.0
            if args.samples_dir and now >= next_witness:  # what beat does for reflection
                witnessed_collect()
                next_witness += 2.0
            if args.samples_dir and now >= next_flush:
                reflection_flush()
                next_flush += 15.0
            if now >= next_human:
                viewer = viewers[n_human % len(viewers)]
                user = viewer.user
                text = viewer.next_line(rng=rng, handles=handles, mention_share=args.mention_share)
                try:
                    message_ingest(draft=human_draft(user=user, room_slug=slug, text=text, client_id=uuid.uuid4().hex), user=user)
                except ChatterError as error:
                    refused[error.code.value] += 1
                n_human += 1
                next_human += args.human_interval * rng.uniform(0.7, 1.3)
            time.sleep(max(0.0, min(next_tick, next_human, next_trends) - time.monotonic()))
        ended = timezone.now()
        stop.set()
        thread.join(timeout=10)
        time.sleep(MENTION_WINDOW)  # let in-flight generations land (judging only covers the run itself)
        if refused:
            print(f"human messages refused: {dict(refused)}")
        results = analyse(room=room, started=started, ended=ended, handles=handles)
        tick_times.sort()
        tick = {"n": len(tick_times), "p50": tick_times[len(tick_times) // 2] if tick_times else 0.0, "max": tick_times[-1] if tick_times else 0.0}
        ok = report(results, slug=slug, provider=provider, load=load_before, tick=tick)
        misses_print(misses_explain(
            events=results["events_raw"], bots=results["bot_messages"], ticks=tick_log, started=started.timestamp(),
            cutoff=ended.timestamp() - SAID_WINDOW, window=SAID_P90_TARGET, related=lambda text, vocab: bool(set(words(text)) & vocab),
        ), examples=200 if args.explain else 0)
        worker_outcomes_print(worker.log_path)
        if args.samples_dir:
            samples_write(room=room, handles=handles, out=Path(args.samples_dir), seed=args.seed)
        return 0 if ok else 1
    finally:
        stop.set()
        for child in reversed(children):
            child.stop()
        if args.keep_logs:
            print(f"logs kept in {log_dir}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    sys.exit(main())
