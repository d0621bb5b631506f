#!/usr/bin/env python
"""Real model: the whole system (`manage.py runchatter`) against any OpenAI-compatible server for N
minutes, and what every LLM purpose got out of it.

    python bench/real_model.py --base-url http://127.0.0.1:8081/v1 --embed-base-url http://127.0.0.1:8082/v1 \\
        --model smollm2 --minutes 10
    OPENAI_BASE_URL=https://api.openai.com/v1 OPENAI_API_KEY=sk-... python bench/real_model.py --minutes 3
    python bench/real_model.py --help

How to run llama.cpp's server with SmolLM2-135M-Instruct for it: docs/real_model.md.

What runs (loopback, bounded by --minutes, everything stopped at the end, on Ctrl-C or an error):
- `manage.py runchatter` on a free port with OPENAI_BASE_URL (and CHATTER_EMBED_BASE_URL) pointing at
  the server, on its embedded defaults in a temp directory (SQLite, embedded Redis, Chroma), or on
  --database-url / --redis-url (PostgreSQL, Redis: the Redis database is FLUSHED first);
- the demo room and its cast, fed by the demo stream; a scribe document on it (started here);
  scripted viewers posting every --human-interval seconds, some @mentioning a persona;
- so that every purpose is exercised within the run: reflection flushes every 60 s, drift every
  --drift-interval seconds, narratives need 1 memory and are asked for every persona every
  --narrative-interval seconds (a forced narrative regeneration job, run in the worker).

Printed per purpose (persona_line, reflection, narrative, scribe, drift, and any other seen), from the
runner's aggregated /metrics: calls, failures by kind, HTTP requests, JSON format fallbacks, JSON
answers by format (and how many needed repair), answers refused by the caller's checks (pre-send
checks, stale lines, scribe answers), and the share of calls that gave a usable result; then crashes
(Tracebacks in the logs, restarted processes), loops (the busiest minute per purpose against the
rest), reflection jobs and the scribe document's state, and the admin's LLM page (fetched as a
superuser: every failure counted there). Target: every purpose usable in >= --target of its calls.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._child import Child, free_port  # noqa: E402

PURPOSES = ("persona_line", "reflection", "narrative", "scribe", "drift")
MAX_MINUTES = 60.0
ROOM = "demo"
SECRET_KEY = "bench-real-model-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz"
HUMAN_LINES = [
    "that wall clip was so clean",
    "is the fireball skip worth it?",
    "first time here, what game is this",
    "my favourite part is the golem fight",
    "nina always dies to the golem lol",
    "the lava section is my nemesis",
    "remember when he missed the skip three times in a row",
    "I prefer the safe route honestly",
]
MENTION_LINES = ["@{handle} what do you think of this run?", "@{handle} do you like the fireball skip?", "@{handle} hi! who are you rooting for?"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL"), help="the chat endpoint (default $OPENAI_BASE_URL)")
    parser.add_argument("--embed-base-url", default=os.environ.get("CHATTER_EMBED_BASE_URL"), help="embeddings, when served elsewhere")
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY") or "unused", help="default $OPENAI_API_KEY")
    parser.add_argument("--model", default=os.environ.get("CHATTER_LLM_MODEL", "gpt-4o-mini"))
    parser.add_argument("--embed-model", default=os.environ.get("CHATTER_EMBED_MODEL", "text-embedding-3-small"))
    parser.add_argument("--embed-dims", type=int, default=0, help="CHATTER_EMBED_DIMS (default 0: the model's own size)")
    parser.add_argument("--minutes", type=float, default=10.0, help=f"how long the system runs (at most {MAX_MINUTES:g})")
    parser.add_argument("--database-url", default=None, help="PostgreSQL instead of the embedded SQLite")
    parser.add_argument("--redis-url", default=None, help="Redis instead of the embedded one (its database is FLUSHED)")
    parser.add_argument("--llm-timeout", type=float, default=120.0, help="CHATTER_LLM_TIMEOUT: seconds per attempt (a small CPU model is slow)")
    parser.add_argument("--persona-timeout", type=float, default=30.0, help="CHATTER_PERSONA_LLM_TIMEOUT")
    parser.add_argument("--stale-seconds", type=float, default=45.0, help="CHATTER_PERSONA_STALE_SECONDS: a line later than this is dropped")
    parser.add_argument("--scribe-max-tokens", type=int, default=768, help="CHATTER_SCRIBE_LLM_MAX_TOKENS")
    parser.add_argument("--drift-interval", type=float, default=120.0, help="CHATTER_DRIFT_INTERVAL")
    parser.add_argument("--narrative-interval", type=float, default=180.0, help="seconds between narrative requests per persona")
    parser.add_argument("--human-interval", type=float, default=8.0, help="seconds between scripted viewer lines")
    parser.add_argument("--personas", type=int, default=0, help="keep only the first N of the demo cast on the roster (0: all); match the load to the server")
    parser.add_argument("--max-retries", type=int, default=0, help="CHATTER_LLM_MAX_RETRIES (default 0: a timed-out request retried on a saturated server doubles its queue)")
    parser.add_argument("--workers", type=int, default=6, help="runchatter --workers: Celery processes; a slow model holds each for seconds")
    parser.add_argument("--target", type=float, default=0.8, help="usable share each purpose should reach")
    parser.add_argument("--json", action="store_true", help="print the report as JSON too")
    parser.add_argument("--keep-logs", action="store_true", help="keep the work directory with every process's log")
    args = parser.parse_args(argv)
    if not args.base_url:
        parser.error("give --base-url (or set OPENAI_BASE_URL): this bench measures a real OpenAI-compatible server")
    if not 0 < args.minutes <= MAX_MINUTES:
        parser.error(f"--minutes must be in (0, {MAX_MINUTES:g}]")
    return args


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="real-model-"))
        self.log_dir = self.work / "logs"
        self.log_dir.mkdir()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.runner: Child | None = None
        self.env: dict[str, str] = {}
        self.handles: list[str] = []
        self.document_id = 0
        self.human_lines = 0
        self.stop = threading.Event()
        self.minute_samples: list[tuple[float, str]] = []  # (time since start, /metrics text)

    def start(self) -> None:
        unset = ("PROMETHEUS_MULTIPROC_DIR", "CHATTER_RUNTIME_DIR", "CHATTER_VECTOR_STORE", "PORT", "DATABASE_URL", "REDIS_URL")
        env = {key: value for key, value in os.environ.items() if key not in unset}
        a = self.args
        env.update(
            PYTHONUNBUFFERED="1",
            NO_COLOR="1",
            DJANGO_SETTINGS_MODULE="chatter_site.settings",
            CHATTER_SECRET_KEY=SECRET_KEY,
            CHATTER_VAR_DIR=str(self.work / "var"),
            OPENAI_BASE_URL=a.base_url,
            OPENAI_API_KEY=a.api_key,
            CHATTER_LLM_MODEL=a.model,
            CHATTER_EMBED_MODEL=a.embed_model,
            CHATTER_EMBED_DIMS=str(a.embed_dims),
            CHATTER_MEMORY_COLLECTION=f"real_model_{uuid.uuid4().hex[:8]}",
            CHATTER_LLM_TIMEOUT=str(a.llm_timeout),
            CHATTER_LLM_MAX_RETRIES=str(a.max_retries),
            CHATTER_PERSONA_LLM_TIMEOUT=str(a.persona_timeout),
            CHATTER_PERSONA_STALE_SECONDS=str(a.stale_seconds),
            CHATTER_SCRIBE_LLM_TIMEOUT=str(max(a.llm_timeout, 240.0)),
            CHATTER_SCRIBE_BATCH_MAX_TURNS="40",
            CHATTER_SCRIBE_LLM_MAX_TOKENS=str(a.scribe_max_tokens),
            CHATTER_DRIFT_INTERVAL=str(a.drift_interval),
            CHATTER_REFLECTION_FLUSH_SECONDS="60",
            CHATTER_REFLECTION_BATCH_MESSAGES="15",
            CHATTER_NARRATIVE_MIN_MEMORIES="1",
            CHATTER_RATE_LIMIT_COUNT="1000",
        )
        if a.embed_base_url:
            env["CHATTER_EMBED_BASE_URL"] = a.embed_base_url
        if a.database_url:
            env["DATABASE_URL"] = a.database_url
        if a.redis_url:
            env["REDIS_URL"] = a.redis_url
            import redis

            redis.Redis.from_url(a.redis_url).flushdb()
        self.env = env
        argv = [sys.executable, "manage.py", "runchatter", "--port", str(self.port), "--workers", str(a.workers)]
        self.runner = Child("runchatter", argv, env, self.log_dir)
        self.runner.wait_for_log("chatter is running", timeout=240)
        log(f"runchatter healthy at {self.base} (work dir {self.work})")

    def prepare(self) -> None:
        """Django in this process, on the runner's services: the cast's handles, a scribe document."""
        os.environ.update(self.env)
        os.environ["CHATTER_RUNTIME_DIR"] = str(self.work / "var" / "run")
        import django

        django.setup()
        from django.db import connections

        from chat.models import Room
        from personas.models import RosterEntry
        from scribe.services import document_start

        Room.objects.filter(slug=ROOM).update(slow_mode_seconds=0)
        roster = RosterEntry.objects.filter(room__slug=ROOM, enabled=True).order_by("persona__handle")
        if self.args.personas:
            keep = list(roster.values_list("pk", flat=True)[: self.args.personas])
            RosterEntry.objects.filter(room__slug=ROOM).exclude(pk__in=keep).update(enabled=False)
        self.handles = list(
            RosterEntry.objects.filter(room__slug=ROOM, enabled=True).order_by("persona__handle").values_list("persona__handle", flat=True)
        )
        self.document_id = document_start(room_slug=ROOM, title="Real model chronicle", style="factual").pk
        connections.close_all()
        log(f"cast: {', '.join(self.handles)}; scribe document {self.document_id}")

    # -- load while it runs --

    def humans(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db import connection

        from chat.services import human_draft, message_ingest

        rng = random.Random(7)
        users = [get_user_model().objects.get_or_create(username=name)[0] for name in ("nina", "bob", "kai", "lena")]
        n = 0
        while not self.stop.wait(self.args.human_interval * rng.uniform(0.6, 1.4)):
            n += 1
            if self.handles and n % 3 == 0:
                text = rng.choice(MENTION_LINES).format(handle=rng.choice(self.handles))
            else:
                text = rng.choice(HUMAN_LINES)
            user = rng.choice(users)
            try:
                message_ingest(draft=human_draft(user=user, room_slug=ROOM, text=text, client_id=uuid.uuid4().hex), user=user)
                self.human_lines += 1
            except Exception as exc:  # the gateway refusing a line is part of what is measured, not a bench crash
                log(f"viewer line refused: {exc}")
            finally:
                connection.close()

    def narratives(self) -> None:
        from memory.services.narratives import narrative_regeneration_enqueue

        while not self.stop.wait(self.args.narrative_interval):
            for handle in self.handles:
                narrative_regeneration_enqueue(subject_type="persona", subject_key=handle, force=True)

    def metrics_text(self) -> str:
        with urllib.request.urlopen(self.base + "/metrics", timeout=10) as answer:
            return answer.read().decode()

    def run(self) -> None:
        threads = [threading.Thread(target=target, daemon=True) for target in (self.humans, self.narratives)]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        deadline = started + self.args.minutes * 60
        next_sample = started + 60
        while time.monotonic() < deadline:
            if self.runner.proc.poll() is not None:
                raise RuntimeError(f"runchatter exited:\n{self.runner.log_tail(40)}")
            time.sleep(min(5.0, max(0.1, deadline - time.monotonic())))
            if time.monotonic() >= next_sample:
                next_sample += 60
                try:
                    self.minute_samples.append((time.monotonic() - started, self.metrics_text()))
                except OSError as exc:
                    log(f"/metrics did not answer: {exc}")
                log(f"{(time.monotonic() - started) / 60:.0f} min: {self.progress()}")
        self.stop.set()
        self.minute_samples.append((time.monotonic() - started, self.metrics_text()))

    def progress(self) -> str:
        from chatter_site.lib.llm_report import llm_usage

        usage = llm_usage(self.minute_samples[-1][1]) if self.minute_samples else {}
        return " · ".join(f"{purpose} {row.usable}/{row.calls}" for purpose, row in usage.items()) or "no calls yet"

    # -- afterwards --

    def state(self) -> dict[str, Any]:
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client

        from chat.models import Message
        from memory.models import MemoryItem, Narrative, ReflectionJob
        from personas.models import DriftProposal
        from scribe.models import ScribeDocument

        jobs = {status: ReflectionJob.objects.filter(status=status).count() for status in ReflectionJob.Status.values}
        document = ScribeDocument.objects.get(pk=self.document_id)
        user = get_user_model().objects.create_superuser("bench_admin", "bench_admin@example.com", None)
        client = Client()
        client.force_login(user)
        page = client.get("/admin/llm/", HTTP_HOST="127.0.0.1")
        html = page.content.decode()
        failures_table = html.split('id="llm-failures"', 1)[-1].split("</table>", 1)[0] if 'id="llm-failures"' in html else ""
        failures_listed = failures_table.count("<tr><td>") - failures_table.count("No failed call recorded")
        state = {
            "reflection_jobs": jobs,
            "memories": MemoryItem.objects.count(),
            "narratives": list(Narrative.objects.values_list("subject_key", "text")[:20]),
            "drift_proposals": DriftProposal.objects.count(),
            "scribe": {"version": document.version, "status": document.status, "last_error": document.last_error, "chars": len(document.content)},
            "scribe_excerpt": document.content[:600],
            "admin_llm_page": {"status": page.status_code, "failure_rows": failures_listed},
            "bot_lines": list(
                Message.objects.filter(room__slug=ROOM, origin="bot").order_by("-seq").values_list("author_name", "text")[:15]
            ),
        }
        connection.close()
        return state

    def logs(self) -> dict[str, Any]:
        text = "".join(path.read_text(errors="replace") for path in self.log_dir.glob("*.log"))
        runner_log = self.runner.log_path.read_text(errors="replace") if self.runner else ""
        return {
            "tracebacks": text.count("Traceback (most recent call last)"),
            "restarts": len(re.findall(r"runchatter: restarting ", runner_log)),
            "fallback_lines": re.findall(r"llm json format fallback [^\n]*", text)[:10],
        }

    def stop_all(self) -> None:
        self.stop.set()
        if self.runner is not None:
            self.runner.stop()
        if self.args.keep_logs:
            log(f"logs kept in {self.log_dir}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def busiest_minute(samples: list[tuple[float, str]], purpose: str) -> tuple[int, float]:
    """(calls in the busiest minute, mean calls per minute): a loop shows as one minute far above the rest."""
    from chatter_site.lib.llm_report import llm_usage

    totals = [llm_usage(text).get(purpose) for _, text in samples]
    counts = [row.requests if row else 0 for row in totals]
    per_minute = [b - a for a, b in zip([0, *counts], counts)]
    return (max(per_minute) if per_minute else 0), (sum(per_minute) / len(per_minute) if per_minute else 0.0)


def report(bench: Bench) -> dict[str, Any]:
    from chatter_site.lib.llm_report import counts_text, llm_usage

    final = bench.minute_samples[-1][1]
    usage = llm_usage(final)
    state, logs = bench.state(), bench.logs()
    args = bench.args
    print()
    print(f"real model: {args.model} at {args.base_url}" + (f", embeddings {args.embed_model} at {args.embed_base_url}" if args.embed_base_url else ""))
    print(f"{args.minutes:g} minutes, demo room, {len(bench.handles)} personas, {bench.human_lines} viewer lines")
    print()
    header = ("purpose", "calls", "usable", "failed (kind)", "requests", "format fallbacks", "JSON answers by format", "refused (pre-send/checks)", "busiest min")
    rows = []
    result: dict[str, Any] = {"purposes": {}, "state": state, "logs": logs}
    for purpose in [*PURPOSES, *(p for p in usage if p not in PURPOSES)]:
        row = usage.get(purpose)
        busiest, mean = busiest_minute(bench.minute_samples, purpose)
        if row is None:
            rows.append((purpose, "0", "–", "–", "0", "–", "–", "–", "0"))
            result["purposes"][purpose] = None
            continue
        share = f"{row.usable} ({row.usable_share:.0%})" if row.usable_share is not None else "–"
        rows.append((
            purpose, str(row.calls), share, counts_text(row.failures), str(row.requests), counts_text(row.fallbacks),
            counts_text(row.formats), counts_text(row.refused), f"{busiest} (mean {mean:.1f})",
        ))
        result["purposes"][purpose] = {
            "calls": row.calls, "ok": row.ok, "usable": row.usable, "usable_share": row.usable_share, "failures": row.failures,
            "requests": row.requests, "fallbacks": row.fallbacks, "formats": row.formats, "refused": row.refused,
            "busiest_minute_requests": busiest, "mean_minute_requests": mean,
        }
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for line in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)))
    print()
    missing = [p for p in PURPOSES if not result["purposes"].get(p)]
    below = [p for p in PURPOSES if result["purposes"].get(p) and (result["purposes"][p]["usable_share"] or 0) < args.target]
    print(f"reflection jobs by status: {state['reflection_jobs']}; memories {state['memories']}; narratives {len(state['narratives'])}; drift proposals {state['drift_proposals']}")
    print(f"scribe document: version {state['scribe']['version']}, {state['scribe']['chars']} chars, status {state['scribe']['status']}, last error {state['scribe']['last_error'] or '–'}")
    print(f"crashes: {logs['tracebacks']} Tracebacks in the logs, {logs['restarts']} restarted processes")
    print(f"admin LLM page: HTTP {state['admin_llm_page']['status']}, {state['admin_llm_page']['failure_rows']} recent failures listed")
    for line in logs["fallback_lines"][:3]:
        print(f"  {line}")
    print()
    print("latest bot lines:")
    for author, text in state["bot_lines"][:8]:
        print(f"  {author}: {text}")
    if state["narratives"]:
        print(f"a narrative ({state['narratives'][0][0]}): {state['narratives'][0][1][:300]}")
    print(f"scribe excerpt: {state['scribe_excerpt'][:300]!r}")
    print()
    verdict = "met" if not missing and not below and not logs["restarts"] else "missed"
    print(
        f"verdict: {verdict} (target: every purpose usable in >= {args.target:.0%} of its calls"
        + (f"; not exercised: {', '.join(missing)}" if missing else "")
        + (f"; below target: {', '.join(below)}" if below else "")
        + ")"
    )
    result["verdict"] = verdict
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Bench(args)

    def _terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        bench.start()
        bench.prepare()
        bench.run()
        result = report(bench)
        if args.json:
            print(json.dumps(result, indent=1, default=str))
        return 0 if result["verdict"] == "met" else 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Exception:
        if bench.runner is not None:
            print(f"runchatter's last output:\n{bench.runner.log_tail(40)}", file=sys.stderr)
        raise
    finally:
        bench.stop_all()


if __name__ == "__main__":
    sys.exit(main())
