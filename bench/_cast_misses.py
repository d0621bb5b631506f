"""Why a stream event got no related bot line within 7 s of its words being said, per event kind.

The cast report's main loop records what each tick decided (`TickLog`); afterwards every judged event
is put in one class, from what reached the database and those decisions:

- `related`      a related line came within the window (not a miss);
- `no_reactor`   no tick chose anyone for it (no decision naming the event, no lead) before the window closed;
- `late`         a reactor was chosen, but its line landed after the window (tick, jitter, queue, generation);
- `unrelated`    a reactor's line landed in time but names nothing of the event (no slot, or another moment);
- `silent`       a reactor was chosen and posted nothing (pre-send refusal, stale, LLM error);
- `busy`         personas wanted to react, but the room's generation slots were all taken (room_busy);
and for each, the seconds from said to known (published), to the first reactor's decision and to its line.
"""
from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

CLASSES = ("related", "no_reactor", "busy", "late", "unrelated", "silent")


@dataclass
class TickLog:
    """Posting decisions of the bench's ticks: (decided at, handle, reasons, decision id); and the
    decisions to post that found no free generation slot (room_busy) as (decided at, handle, reasons)."""

    posts: list[tuple[float, str, list[str], str]] = field(default_factory=list)
    busy: list[tuple[float, str, list[str]]] = field(default_factory=list)
    skipped: list[tuple[float, str, float, list[str]]] = field(default_factory=list)  # (at, handle, probability, reasons)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, *, at: float, outcomes: list) -> None:
        with self.lock:
            for outcome in outcomes:
                if outcome.decision.post and outcome.decision_id:
                    self.posts.append((at, outcome.handle, list(outcome.decision.reasons), outcome.decision_id))
                elif "room_busy" in outcome.decision.reasons or "room_cap" in outcome.decision.reasons:
                    self.busy.append((at, outcome.handle, list(outcome.decision.reasons)))
                else:
                    self.skipped.append((at, outcome.handle, outcome.decision.probability, list(outcome.decision.reasons)))


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def misses_explain(
    *, events: dict, bots: list, ticks: TickLog, started: float, cutoff: float, window: float,
    related: Callable[[str, set[str]], bool],
) -> dict[str, Any]:
    """Per event kind: how many events fall in each class, and the median delays of the misses."""
    line_of = {m.client_id.removeprefix("decision-"): m for m in bots if m.client_id and m.client_id.startswith("decision-")}
    per_kind: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CLASSES, 0))
    examples: list[str] = []
    for event in events.values():
        at = _ts(event["at"])
        if at < started or at > cutoff:
            continue
        end = at + window
        lines = [m for m in bots if at <= m.created_at.timestamp() <= end]
        if any(related(m.text, event["vocab"]) for m in lines):
            per_kind[event["kind"]]["related"] += 1
            continue
        reactors = [
            (decided, handle, reasons, decision_id) for decided, handle, reasons, decision_id in ticks.posts
            if event["known"] - 1.0 <= decided <= end
            and (f"event:{event['kind']}" in reasons or "event_lead" in reasons)
        ]
        wanted = [
            b for b in ticks.busy
            if event["known"] - 1.0 <= b[0] <= end and (f"event:{event['kind']}" in b[2] or "event_lead" in b[2])
        ]
        if not reactors:
            cls = "busy" if wanted else "no_reactor"
        else:
            posted = [line_of[d] for *_, d in reactors if d in line_of]
            if not posted:
                cls = "silent"
            elif all(m.created_at.timestamp() > end for m in posted):
                cls = "late"
            else:
                cls = "unrelated"
        per_kind[event["kind"]][cls] += 1
        first = reactors[0] if reactors else None
        line = line_of.get(first[3]) if first else None
        examples.append(
            f"{event['kind']:<13} {cls:<10} said→known {event['known'] - at:4.1f}s"
            + (f"  decided +{first[0] - at:4.1f}s {first[1]} {','.join(r for r in first[2] if r.startswith(('event', 'mention', 'humans')))}" if first else "")
            + (f"  line +{line.created_at.timestamp() - at:4.1f}s {line.text[:60]!r}" if line else "")
            + f"  | {event.get('evidence', '')[:50]!r}"
        )
        if cls == "no_reactor":
            seen = [s for s in ticks.skipped if event["known"] - 1.0 <= s[0] <= end]
            with_event = sum(1 for s in seen if f"event:{event['kind']}" in s[3])
            zero = Counter(s[3][0] for s in seen if s[2] == 0 and s[3])
            examples.append(f"      ticks saw it in {with_event} of {len(seen)} persona decisions; zero-probability reasons {dict(zero)}")
    return {"per_kind": dict(per_kind), "examples": examples}


def misses_print(explained: dict[str, Any], *, examples: int = 25) -> None:
    print("\n  said → related line within 7 s, by event kind and cause of a miss")
    print(f"  {'kind':<14}" + "".join(f"{c:>12}" for c in CLASSES))
    for kind, counts in sorted(explained["per_kind"].items()):
        print(f"  {kind:<14}" + "".join(f"{counts[c]:>12}" for c in CLASSES))
    for line in explained["examples"][:examples]:
        print(f"    {line}")


def worker_outcomes_print(log_path) -> None:
    """What the worker decided about @mentions (answered, or skipped and why) and which generations went
    quiet (stale, pre-send refusal, LLM error), from its log: where a missed answer or reaction went."""
    import re
    from collections import Counter

    text = log_path.read_text(errors="replace")
    mentions = Counter(m.group(1).strip() for m in re.finditer(r"mention of \S+: (\w+ [\w,]*)", text))
    quiet = Counter(m.group(1) for m in re.finditer(r"generation quiet: (\S+)", text))
    print(f"\n  worker: @mention decisions {dict(mentions) or '{}'}; generations gone quiet {dict(quiet) or '{}'}")
