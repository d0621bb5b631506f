#!/usr/bin/env python
"""Tick cost without LLM time: how much a fast-loop tick of the cast costs, and what it adds to the
chat path.

    python bench/tick_cost.py                         # 10 rooms x 100 personas, 20 ticks, 300 messages
    python bench/tick_cost.py --ticks 50 --messages 500 --tick-runner process

(i) Decisions: 10 rooms x 100 personas (fresh rooms and personas, handles prefixed by a run id) are
    created in the database; each room gets a short chat history (so the window is not empty) and
    its cast knobs. Then N full ticks (cast_tick on every room = 1,000 decisions) are timed, CPU
    (time.process_time, this process: Python + client side of PostgreSQL/Redis, not the servers)
    and wall. Generation is stubbed out at the task edge: personas.tasks.persona_generate_task
    .apply_async is replaced by a counter, so no LLM, no broker message, no worker. Per tick:
    SQL queries (django.test.utils.CaptureQueriesContext) and Redis round trips (a counter on
    redis.Redis.execute_command and Pipeline.execute). Target: a full tick of 1,000 personas
    < 50 ms CPU.
(ii) Chat path: message_ingest (the real gateway service: safety gate, seq in PostgreSQL,
    on-commit publish to Redis) latency for --messages human messages (one user each, so no rate
    limit) paced at --rate per second, first with nothing else running, then while full ticks run
    back to back (continuously, the worst case; production ticks once a second) in a thread of
    this process (--tick-runner thread, the default: shares the GIL, pessimistic) or in a separate
    process (--tick-runner process: as with Celery workers). Reported: p50/p99 of both and the
    % difference. The issue's target is on the foundation benchmark's gateway p99 (within 10 %);
    this is the in-process proxy for it.

PostgreSQL: DATABASE_URL (default the `test` database, migrated); Redis: REDIS_URL (default db 3,
FLUSHED at the start). The bench's rooms, personas and users are deleted at the end (--keep to keep).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MAX_ROOMS = 50
MAX_PERSONAS = 500
MAX_TICKS = 500
MAX_MESSAGES = 5000
CPU_TARGET_MS = 50.0
P99_TARGET_PCT = 10.0


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100.0 * (len(ordered) - 1))))
    return ordered[index]


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')


# --------------------------------------------------------------------------------------------
# Counters at the edges
# --------------------------------------------------------------------------------------------
class Counts:
    redis = 0
    enqueued = 0


def install_counters() -> None:
    import redis
    import redis.client

    from personas.tasks import persona_generate_task

    plain = redis.Redis.execute_command
    pipe_execute = redis.client.Pipeline.execute

    def counted(self, *args, **kwargs):
        Counts.redis += 1
        return plain(self, *args, **kwargs)

    def counted_pipe(self, *args, **kwargs):
        Counts.redis += 1
        return pipe_execute(self, *args, **kwargs)

    def stub(*args, **kwargs):  # the LLM edge: this bench measures decisions, not generation
        Counts.enqueued += 1

    redis.Redis.execute_command = counted
    redis.client.Pipeline.execute = counted_pipe
    persona_generate_task.apply_async = stub


# --------------------------------------------------------------------------------------------
# Setup
# --------------------------------------------------------------------------------------------
def world_create(prefix: str, rooms: int, personas: int, history: int) -> list:
    from chat.models import Room
    from chat.services import draft_parse, message_ingest
    from personas.models import Persona, RoomCast, RosterEntry

    rng = random.Random(1)
    created = []
    topics = ["clutch", "boss rush", "wall clip", "music", "lore", "splits", "snacks", "parry", "reset", "memes"]
    emotes = ["Pog", "KEKW", "Kappa", "LUL", "catJAM", "monkaS", "Sadge", "5Head"]
    for r in range(rooms):
        room = Room.objects.create(slug=f"{prefix}-r{r}", title=f"tick cost {prefix} {r}")
        RoomCast.objects.create(room=room, hype_multiplier=1.3, bot_human_bias=0.7, max_inflight=3, max_bot_messages_per_minute=40)
        batch = [
            Persona(
                handle=f"{prefix}r{r}p{i}"[:32], bio="bench persona", style="short",
                emotes=rng.sample(emotes, 2), loved_topics=rng.sample(topics, 3), hated_topics=rng.sample(topics, 1),
                chattiness=rng.uniform(0.02, 0.15), hype_sensitivity=rng.uniform(0.4, 2.6), bot_affinity=rng.uniform(0.1, 0.8),
                max_posts_per_minute=rng.randint(2, 6),
            )
            for i in range(personas)
        ]
        Persona.objects.bulk_create(batch)
        saved = Persona.objects.filter(handle__startswith=f"{prefix}r{r}p")
        RosterEntry.objects.bulk_create([RosterEntry(room=room, persona=p) for p in saved])
        for k in range(history):
            origin = "bot" if k % 3 else "human"
            message_ingest(draft=draft_parse({
                "room": room.slug, "origin": origin,
                "author": {"name": f"seed{k % 5}", "color": "#123456", "badges": []},
                "author_key": f"bot:{prefix}{k % 5}" if origin == "bot" else f"seed:{prefix}r{r}m{k}",
                "text": f"warm-up line {k} about the {rng.choice(topics)} {rng.choice(emotes)}",
                "client_id": uuid.uuid4().hex,
            }))
        created.append(room)
    return created


def world_delete(prefix: str, user_prefix: str) -> None:
    from django.contrib.auth import get_user_model

    from chat.models import Room
    from personas.models import Persona

    Room.objects.filter(slug__startswith=f"{prefix}-r").delete()
    Persona.objects.filter(handle__startswith=f"{prefix}r").delete()
    get_user_model().objects.filter(username__startswith=user_prefix).delete()


# --------------------------------------------------------------------------------------------
# (i) tick cost
# --------------------------------------------------------------------------------------------
def full_tick(rooms: list, rng: random.Random) -> int:
    """One tick of every room, each as personas.tasks.cast_tick_task does it (the room read included)."""
    from personas.selectors import tick_room
    from personas.services import cast_tick

    decisions = 0
    for room in rooms:
        decisions += len(cast_tick(room=tick_room(room_id=room.pk), rng=rng))
    return decisions


def measure_ticks(rooms: list, ticks: int, warmup: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    rng = random.Random(11)
    for _ in range(warmup):
        full_tick(rooms, rng)
    cpu, wall, sql, red, decisions = [], [], [], [], 0
    enq0 = Counts.enqueued
    for _ in range(ticks):
        r0 = Counts.redis
        with CaptureQueriesContext(connection) as queries:
            c0, w0 = time.process_time(), time.perf_counter()
            decisions += full_tick(rooms, rng)
            c1, w1 = time.process_time(), time.perf_counter()
        cpu.append(c1 - c0)
        wall.append(w1 - w0)
        sql.append(len(queries.captured_queries))
        red.append(Counts.redis - r0)
        time.sleep(0.05)
    return {
        "ticks": ticks, "decisions": decisions, "per_tick": decisions / ticks,
        "cpu_ms": {"p50": 1000 * percentile(cpu, 50), "p95": 1000 * percentile(cpu, 95), "mean": 1000 * statistics.fmean(cpu)},
        "wall_ms": {"p50": 1000 * percentile(wall, 50), "p95": 1000 * percentile(wall, 95), "mean": 1000 * statistics.fmean(wall)},
        "decisions_per_s_wall": decisions / sum(wall), "decisions_per_s_cpu": decisions / sum(cpu),
        "sql_per_tick": statistics.fmean(sql), "redis_per_tick": statistics.fmean(red),
        "posts_per_tick": (Counts.enqueued - enq0) / ticks,
    }


# --------------------------------------------------------------------------------------------
# (ii) chat path
# --------------------------------------------------------------------------------------------
def ingest_run(room, users: list, rate: float) -> list[float]:
    from chat.services import human_draft, message_ingest

    latencies = []
    interval = 1.0 / rate
    next_at = time.perf_counter()
    for n, user in enumerate(users):
        draft = human_draft(user=user, room_slug=room.slug, text=f"hello chat, message {n} about the boss", client_id=uuid.uuid4().hex)
        began = time.perf_counter()
        message_ingest(draft=draft, user=user)
        latencies.append(time.perf_counter() - began)
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))
    return latencies


def _tick_loop(room_ids: list[int], stop, count) -> None:
    """Full ticks back to back until `stop` (thread or forked process)."""
    from django.db import connection

    from chat.models import Room

    install_counters() if mp.current_process().name != "MainProcess" else None
    rooms = list(Room.objects.filter(pk__in=room_ids))
    rng = random.Random(5)
    try:
        while not stop.is_set():
            full_tick(rooms, rng)
            with count.get_lock():
                count.value += 1
    finally:
        connection.close()


def tick_loop_paced(rooms: list, seconds: float, interval: float) -> int:
    """Load mode: one full tick every `interval` seconds for `seconds`, like beat and the tick tasks."""
    rng = random.Random(7)
    cpu: list[float] = []
    print("ticking", flush=True)
    deadline = time.monotonic() + seconds
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        began = time.process_time()
        full_tick(rooms, rng)
        cpu.append(time.process_time() - began)
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    print(f"ticked {len(cpu)} times, CPU per full tick p50 {1000 * percentile(cpu, 50):.1f} ms", flush=True)
    return 0


def measure_chat_path(rooms: list, users_a: list, users_b: list, rate: float, runner: str) -> dict[str, Any]:
    from django.db import connections

    target = rooms[0]
    quiet = ingest_run(target, users_a, rate)
    count = mp.Value("i", 0)
    ids = [room.pk for room in rooms]
    if runner == "thread":
        stop = threading.Event()
        worker = threading.Thread(target=_tick_loop, args=(ids, stop, count), daemon=True)
    else:
        connections.close_all()  # the child opens its own connections
        ctx = mp.get_context("fork")
        stop = ctx.Event()
        worker = ctx.Process(target=_tick_loop, args=(ids, stop, count), daemon=True)
    worker.start()
    time.sleep(0.5)
    started = time.perf_counter()
    try:
        busy = ingest_run(target, users_b, rate)
    finally:
        elapsed = time.perf_counter() - started
        stop.set()
        worker.join(timeout=30)
    def stats(values):
        return {"p50": 1000 * percentile(values, 50), "p99": 1000 * percentile(values, 99), "mean": 1000 * statistics.fmean(values)}

    q, b = stats(quiet), stats(busy)
    return {
        "runner": runner, "messages": len(quiet), "quiet": q, "ticking": b,
        "ticks_during": count.value, "ticks_per_s": count.value / elapsed if elapsed else 0.0,
        "p50_diff_pct": 100 * (b["p50"] - q["p50"]) / q["p50"], "p99_diff_pct": 100 * (b["p99"] - q["p99"]) / q["p99"],
    }


def users_create(prefix: str, count: int) -> list:
    from django.contrib.auth import get_user_model

    User = get_user_model()
    User.objects.bulk_create([User(username=f"{prefix}{i}") for i in range(count)])
    return list(User.objects.filter(username__startswith=prefix).order_by("id"))


# --------------------------------------------------------------------------------------------
def report(args, t: dict[str, Any], c: dict[str, Any], load_before: list[float]) -> bool:
    personas = args.rooms * args.personas
    print(f"\ntick cost  rooms={args.rooms} x personas={args.personas} (= {personas} decisions per full tick)  cpus={os.cpu_count()}  "
          f"load avg before={'/'.join(map(str, load_before))} after={'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("generation stubbed at persona_generate_task.apply_async (no LLM time)\n")
    print("  (i) full tick                          p50        p95       mean")
    print(f"  CPU per full tick (ms)            {t['cpu_ms']['p50']:8.1f}   {t['cpu_ms']['p95']:8.1f}   {t['cpu_ms']['mean']:8.1f}")
    print(f"  wall per full tick (ms)           {t['wall_ms']['p50']:8.1f}   {t['wall_ms']['p95']:8.1f}   {t['wall_ms']['mean']:8.1f}")
    print(f"  decisions/s (wall)                {t['decisions_per_s_wall']:10.0f}")
    print(f"  decisions/s (CPU of this process) {t['decisions_per_s_cpu']:10.0f}")
    print(f"  SQL queries per full tick         {t['sql_per_tick']:10.1f}   ({t['sql_per_tick']/args.rooms:.1f} per room)")
    print(f"  Redis round trips per full tick   {t['redis_per_tick']:10.1f}   ({t['redis_per_tick']/personas:.2f} per persona)")
    print(f"  generations enqueued per tick     {t['posts_per_tick']:10.1f}   (stubbed)")
    scaled = t["cpu_ms"]["p50"] * 1000 / personas
    cpu_ok = scaled < CPU_TARGET_MS
    print(f"  → CPU for 1,000 personas (p50)    {scaled:10.1f} ms   target < {CPU_TARGET_MS:.0f} ms   {'MET' if cpu_ok else 'MISSED'}")
    print(f"\n  (ii) message_ingest latency, {c['messages']} msgs at {args.rate:g}/s     p50 ms    p99 ms    mean ms")
    print(f"  no ticks                                        {c['quiet']['p50']:8.2f}  {c['quiet']['p99']:8.2f}  {c['quiet']['mean']:8.2f}")
    print(f"  ticks back to back ({c['runner']}, {c['ticks_per_s']:.1f} full ticks/s) {c['ticking']['p50']:8.2f}  {c['ticking']['p99']:8.2f}  {c['ticking']['mean']:8.2f}")
    print(f"  difference                                      {c['p50_diff_pct']:+7.1f}%  {c['p99_diff_pct']:+7.1f}%")
    p99_ok = c["p99_diff_pct"] <= P99_TARGET_PCT
    print(f"  → p99 within {P99_TARGET_PCT:.0f} % while ticking: {'MET' if p99_ok else 'MISSED'} "
          f"(in-process proxy for the gateway benchmark's p99)")
    return cpu_ok and p99_ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--rooms", type=int, default=10, help=f"rooms (max {MAX_ROOMS})")
    parser.add_argument("--personas", type=int, default=100, help=f"personas per room (max {MAX_PERSONAS})")
    parser.add_argument("--ticks", type=int, default=20, help=f"measured full ticks (max {MAX_TICKS})")
    parser.add_argument("--warmup", type=int, default=2, help="full ticks before measuring")
    parser.add_argument("--history", type=int, default=12, help="chat messages per room before ticking")
    parser.add_argument("--messages", type=int, default=300, help=f"message_ingest calls per phase (max {MAX_MESSAGES})")
    parser.add_argument("--rate", type=float, default=50.0, help="messages per second in the chat-path phases")
    parser.add_argument("--tick-runner", choices=("thread", "process"), default="thread")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3"), help="FLUSHED at start")
    parser.add_argument("--skip-migrate", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the bench's rooms, personas and users")
    parser.add_argument("--profile", action="store_true", help="profile the measured ticks (cProfile) and print the top 25, then stop")
    parser.add_argument("--loop-seconds", type=float, default=0.0,
                        help="load mode: create the world, print 'ticking', run one full tick per --loop-interval for this "
                             "long (as beat does), print the CPU per tick, clean up (Redis not flushed). For gateway_fanout --ticking")
    parser.add_argument("--loop-interval", type=float, default=1.0, help="seconds between full ticks in --loop-seconds mode")
    args = parser.parse_args(argv)
    if not (1 <= args.rooms <= MAX_ROOMS and 1 <= args.personas <= MAX_PERSONAS and 1 <= args.ticks <= MAX_TICKS
            and 10 <= args.messages <= MAX_MESSAGES and 1 <= args.rate <= 1000 and 0 <= args.warmup <= 20 and 0 <= args.history <= 30):
        parser.error(f"--rooms 1..{MAX_ROOMS}, --personas 1..{MAX_PERSONAS}, --ticks 1..{MAX_TICKS}, "
                     f"--messages 10..{MAX_MESSAGES}, --rate 1..1000, --warmup 0..20, --history 0..30")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "chatter_site.settings",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "CHATTER_LOG_LEVEL": os.environ.get("CHATTER_LOG_LEVEL", "WARNING"),
    })
    os.environ.setdefault("CHATTER_VAR_DIR", tempfile.mkdtemp(prefix="chatter-tick-bench-"))
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    load_before = [round(x, 2) for x in os.getloadavg()]
    import redis

    if not args.loop_seconds:
        redis.Redis.from_url(args.redis_url).flushdb()
    ensure_database(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command

    if not args.skip_migrate:
        call_command("migrate", interactive=False, verbosity=0)
    install_counters()
    run = uuid.uuid4().hex[:6]
    prefix, user_prefix = f"tc{run}", f"tcu{run}-"
    try:
        print(f"creating {args.rooms} rooms x {args.personas} personas (prefix {prefix}) ...", flush=True)
        rooms = world_create(prefix, args.rooms, args.personas, args.history)
        if args.loop_seconds:
            return tick_loop_paced(rooms, min(args.loop_seconds, 600.0), max(args.loop_interval, 0.1))
        users = users_create(user_prefix, 2 * args.messages)
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(measure_ticks, rooms, args.ticks, args.warmup)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            return 0
        print(f"timing {args.ticks} full ticks ...", flush=True)
        ticks = measure_ticks(rooms, args.ticks, args.warmup)
        print(f"chat path: {args.messages} messages without, then with, ticks ({args.tick_runner}) ...", flush=True)
        chat = measure_chat_path(rooms, users[: args.messages], users[args.messages:], args.rate, args.tick_runner)
        ok = report(args, ticks, chat, load_before)
        return 0 if ok else 1
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            world_delete(prefix, user_prefix)


if __name__ == "__main__":
    sys.exit(main())
