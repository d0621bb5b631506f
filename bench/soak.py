#!/usr/bin/env python
"""Soak and fault drills: the whole system under a steady human load for minutes, faults injected.

    python bench/soak.py                                   # 10 minutes, every fault drill
    python bench/soak.py --minutes 3 --faults redis,postgres
    python bench/soak.py --minutes 5 --faults none         # the soak alone
    python bench/soak.py --help

What runs, all on loopback, every loop bounded in count and time, everything stopped at the end
(also on Ctrl-C or an error) and its temporary directories removed:
- its OWN services, so restarting them disturbs nobody: a throwaway PostgreSQL cluster (initdb into
  a temp dir, pg_ctl on a free port, trust auth), its own redis-server (AOF on, as a broker
  should be), moto's S3 server behind a proxy that can be switched off;
- `manage.py runchatter` against them: Daphne, a Celery worker, beat, the offline LLM provider,
  a Chroma server and the demo stream; personas tick, reflection runs, and a scribe document
  (stored in S3) follows the demo room;
- human users (signed in) posting over the room WebSocket at `--rate` messages/s in total, with
  the real client's outbox (one in flight, resent with the same client_id after a reconnect);
- `--viewers` anonymous WebSocket viewers that behave like static/chat/room.js: reconnect with
  jittered backoff, `resume` from their last seq on every hello, resume on a seq gap.

It checks: every persisted message (read back from the database by seq at the end) reached every
viewer and human, live or on resume; no message twice in the database; what a human sent was
persisted or refused with an error frame, never silently dropped; the RSS of every process flat
after warm-up; the Celery queues bounded. Each fault drill (`--faults`, sequential) reports
messages lost, duplicates and the time to recover: a new human message delivered to everyone, a
persona posting again, the scribe caught up with the room. Exit status 1 when an invariant fails.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._child import Child, PostgresCluster, RedisServer, free_port, start_moto  # noqa: E402
from bench._room_clients import Human, Ledger, RoomClient  # noqa: E402
from tests.support.flaky_proxy import FlakyProxy  # noqa: E402

ALL_FAULTS = ("redis", "worker", "llm", "s3", "postgres")
MAX_MINUTES = 60.0
MAX_VIEWERS = 300
MAX_HUMANS = 50
MAX_RATE = 50.0
SECRET_KEY = "bench-soak-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz-abcdef"
S3_ACCESS_KEY = "soak-access-key"
S3_SECRET_KEY = "soak-secret-key"
S3_REGION = "us-east-1"
ROOM = "demo"
QUEUES = ("default", "llm", "reflection", "scribe")
PRIORITY_SEP = "\x06\x16"  # kombu's Redis transport keeps each priority step in its own list
SAMPLE_EVERY = 2.0  # queue depths, and the room's last seq with the scribe's version and cursor
SAMPLE_RSS_EVERY = 10.0
# Thresholds of the invariants.
RSS_GROWTH_LIMIT_PCT = 25.0
RSS_GROWTH_LIMIT_MB = 25.0
RSS_JUDGED_AFTER_SECONDS = 180.0  # shorter runs report memory but do not judge it
QUEUE_DEPTH_LIMIT = 500
WORDS = ("gg", "what a play", "no way", "LUL", "that boss though", "clutch?", "nice one", "PogChamp", "rip", "hype")


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))]


# --- sampling ------------------------------------------------------------------------------------
def _proc_table() -> dict[int, tuple[int, list[str]]]:
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = [part.decode(errors="replace") for part in (entry / "cmdline").read_bytes().split(b"\0") if part]
        except (OSError, ValueError, IndexError):
            continue
        table[int(entry.name)] = (parent, argv)
    return table


def _role(argv: list[str], parent_role: str | None) -> str:
    joined = " ".join(argv)
    if "daphne" in joined:
        return "web"
    if "celery" in joined and " worker" in joined:
        return "worker-pool" if parent_role == "worker" else "worker"
    if "celery" in joined and " beat" in joined:
        return "beat"
    if "offline_llm" in joined:
        return "llm"
    if "chromadb" in joined:
        return "chroma"
    if "run_stream_context" in joined:
        return "stream"
    if "watchdog.py" in joined:
        return "watchdog"
    if "runchatter" in joined:
        return "runner"
    return Path(argv[0]).name if argv else "?"


def process_tree(root_pid: int) -> dict[int, str]:
    """pid -> role for the runner and everything below it."""
    table = _proc_table()
    roles: dict[int, str] = {}
    if root_pid not in table:
        return roles
    roles[root_pid] = "runner"
    frontier = [root_pid]
    for _depth in range(6):
        children = [pid for pid, (parent, _) in table.items() if parent in frontier and pid not in roles]
        for pid in children:
            roles[pid] = _role(table[pid][1], roles.get(table[pid][0]))
        frontier = children
        if not frontier:
            break
    return roles


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# --- the soak ------------------------------------------------------------------------------------
@dataclass
class Drill:
    name: str
    started: float  # time.time()
    ended: float = 0.0  # the fault is over (the service is back, or the kill happened)
    notes: list[str] = field(default_factory=list)
    chat_recovered: float | None = None  # seconds after `ended`
    bots_recovered: float | None = None
    scribe_recovered: float | None = None
    worker_back: float | None = None
    settled: float = 0.0
    room_seq_at_end: int = 0


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="soak-"))
        self.log_dir = self.work / "logs"
        self.log_dir.mkdir()
        self.pg: PostgresCluster | None = None
        self.redis: RedisServer | None = None
        self.moto: Child | None = None
        self.proxy: FlakyProxy | None = None
        self.runner: Child | None = None
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ledger = Ledger()
        self.viewers: list[RoomClient] = []
        self.humans: list[Human] = []
        self.drills: list[Drill] = []
        self.queue_samples: list[tuple[float, dict[str, int]]] = []
        self.queue_errors = 0
        self.rss: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
        self.db_samples: list[tuple[float, int, int, int]] = []  # (time, room last_seq, scribe version, cursor)
        self.healthz: list[tuple[float, int | None]] = []
        self.t0 = 0.0
        self.warm_until = 0.0
        self.warmup_seconds = 0.0
        self.document_id = 0
        self.handles: list[str] = []
        self.env: dict[str, str] = {}

    # -- start-up --

    def start_services(self) -> None:
        log(f"work dir {self.work}")
        self.pg = PostgresCluster()
        self.pg.init()
        log(f"postgres: own cluster on 127.0.0.1:{self.pg.port} ({self.pg.dir})")
        self.redis = RedisServer(self.work, self.log_dir)
        self.redis.start()
        log(f"redis: own server on {self.redis.url}")
        self.moto, s3_url = start_moto(self.log_dir, access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY)
        self.proxy = FlakyProxy(int(s3_url.rsplit(":", 1)[1]))
        bucket = f"soak-{uuid.uuid4().hex[:8]}"
        import boto3

        boto3.client(
            "s3", endpoint_url=s3_url, aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=S3_SECRET_KEY, region_name=S3_REGION
        ).create_bucket(Bucket=bucket)
        log(f"s3: moto at {s3_url}, behind a switchable proxy on port {self.proxy.port}, bucket {bucket}")
        unset = ("PROMETHEUS_MULTIPROC_DIR", "OPENAI_API_KEY", "OPENAI_BASE_URL", "CHATTER_VECTOR_STORE", "CHATTER_RUNTIME_DIR", "PORT")
        self.env = {key: value for key, value in os.environ.items() if key not in unset}
        self.env.update(
            PYTHONUNBUFFERED="1",
            DJANGO_SETTINGS_MODULE="chatter_site.settings",
            DATABASE_URL=self.pg.url,
            REDIS_URL=self.redis.url,
            CHATTER_SECRET_KEY=SECRET_KEY,
            CHATTER_ALLOWED_HOSTS="127.0.0.1,localhost",
            CHATTER_VAR_DIR=str(self.work / "var"),
            NO_COLOR="1",
            # Several humans post faster than one viewer may by default (5 per 10 s).
            CHATTER_RATE_LIMIT_COUNT="1000",
            # Short enough that a killed worker's reflection job is redone within the drill.
            CHATTER_REFLECTION_LEASE_SECONDS=str(self.args.reflection_lease),
            CHATTER_JOBS_SWEEP_SECONDS="15",
            CHATTER_DRIFT_INTERVAL="120",
            CHATTER_S3_BUCKET=bucket,
            AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{self.proxy.port}",
            AWS_ACCESS_KEY_ID=S3_ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=S3_SECRET_KEY,
            AWS_DEFAULT_REGION=S3_REGION,
            AWS_S3_REGION_NAME=S3_REGION,
            AWS_MAX_ATTEMPTS="2",
            AWS_RETRY_MODE="standard",
            AWS_EC2_METADATA_DISABLED="true",
        )
        argv = [sys.executable, "manage.py", "runchatter", "--port", str(self.port), "--workers", str(self.args.workers)]
        self.runner = Child("runchatter", argv, self.env, self.log_dir)
        self.runner.wait_for_log("chatter is running", timeout=180)
        log(f"runchatter: healthy at {self.base} (log {self.runner.log_path})")

    def prepare_room(self) -> list[str]:
        """Django in this process, on the same services: humans with sessions, a scribe document."""
        os.environ.update(self.env)
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.db import connections
        from django.test import Client

        from chat.models import Room
        from scribe.services import document_start

        try:
            from personas.models import Persona

            self.handles = list(Persona.objects.values_list("handle", flat=True)[:20])
        except Exception:
            self.handles = []
        Room.objects.filter(slug=ROOM).update(slow_mode_seconds=0)
        cookies = []
        for n in range(self.args.humans):
            user = get_user_model().objects.create_user(username=f"soak_human_{n}", password=None)
            client = Client()
            client.force_login(user)
            cookies.append(f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}")
        self.document_id = document_start(room_slug=ROOM, title="Soak chronicle", style="factual").pk
        connections.close_all()
        return cookies

    # -- sampling (in threads: the ORM, redis-py and /proc are blocking) --

    def sample_db(self) -> tuple[int, int, int] | None:
        from django.db import connection

        from chat.models import Room
        from scribe.models import ScribeDocument

        try:
            last_seq = Room.objects.filter(slug=ROOM).values_list("last_seq", flat=True).get()
            version, cursor = ScribeDocument.objects.filter(pk=self.document_id).values_list("version", "cursor_seq").get()
            return last_seq, version, cursor
        except Exception:
            return None
        finally:
            connection.close()

    def sample_queues(self) -> dict[str, int] | None:
        import redis

        client = redis.Redis.from_url(self.redis.url, socket_connect_timeout=0.5, socket_timeout=1)
        try:
            pipe = client.pipeline(transaction=False)
            for queue in QUEUES:
                for suffix in ("", f"{PRIORITY_SEP}3", f"{PRIORITY_SEP}6", f"{PRIORITY_SEP}9"):
                    pipe.llen(queue + suffix)
            lengths = pipe.execute()
            return {queue: sum(lengths[i * 4:(i + 1) * 4]) for i, queue in enumerate(QUEUES)}
        except redis.RedisError:
            return None
        finally:
            client.close()

    def sample_rss(self) -> None:
        now = time.time()
        roles = process_tree(self.runner.proc.pid)
        others = {}
        if self.redis and self.redis.child and self.redis.child.proc.poll() is None:
            others[self.redis.child.proc.pid] = "redis"
        if self.pg and (pid := self.pg.postmaster_pid()):
            others[pid] = "postgres"
        if self.moto and self.moto.proc.poll() is None:
            others[self.moto.proc.pid] = "moto"
        for pid, role in {**roles, **others}.items():
            value = rss_mb(pid)
            if value is not None:
                self.rss[f"{role}[{pid}]"].append((now, value))

    def healthz_status(self) -> int | None:
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=3) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    async def sampler(self, stop: asyncio.Event) -> None:
        next_rss = 0.0
        while not stop.is_set():
            now = time.time()
            queues = await asyncio.to_thread(self.sample_queues)
            if queues is None:
                self.queue_errors += 1
            else:
                self.queue_samples.append((now, queues))
            db = await asyncio.to_thread(self.sample_db)
            if db is not None:
                self.db_samples.append((now, *db))
            if now >= next_rss:
                next_rss = now + SAMPLE_RSS_EVERY
                await asyncio.to_thread(self.sample_rss)
            try:
                await asyncio.wait_for(stop.wait(), timeout=SAMPLE_EVERY)
            except asyncio.TimeoutError:
                pass

    # -- load --

    async def typist(self, human: Human, index: int, stop: asyncio.Event) -> None:
        interval = len(self.humans) / self.args.rate
        await asyncio.sleep(interval * index / len(self.humans))  # spread the humans over the interval
        while not stop.is_set():
            human.counter += 1
            words = random.choice(WORDS)
            if self.handles and human.counter % 10 == 0:
                words = f"@{random.choice(self.handles)} {words}"
            human.type_message(f"{words} [soak {human.name} #{human.counter}]")
            await human.pump()
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval * random.uniform(0.8, 1.2))
            except asyncio.TimeoutError:
                pass

    # -- faults --

    def llm_control(self, **faults: Any) -> None:
        services = json.loads((self.work / "var" / "run" / "services.json").read_text())
        url = services["openai_base_url"].removesuffix("/v1") + "/__control"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {services.get('llm_control_token', '')}"}
        request = urllib.request.Request(url, data=json.dumps(faults).encode(), headers=headers)
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    def worker_pid(self) -> int | None:
        roles = process_tree(self.runner.proc.pid)
        return next((pid for pid, role in roles.items() if role == "worker"), None)

    async def hold(self, seconds: float) -> None:
        """Wait while a fault lasts, noting what /healthz says meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            status = await asyncio.to_thread(self.healthz_status)
            self.healthz.append((time.time(), status))
            await asyncio.sleep(min(2.0, max(0.0, deadline - time.monotonic())))

    async def inject(self, drill: Drill) -> None:
        a = self.args
        if drill.name == "redis":
            await asyncio.to_thread(self.redis.stop)
            await self.hold(a.fault_hold)
            await asyncio.to_thread(self.redis.start)
        elif drill.name == "postgres":
            await asyncio.to_thread(self.pg.stop, "fast")
            await self.hold(a.fault_hold)
            await asyncio.to_thread(self.pg.start)
        elif drill.name == "worker":
            pid = await asyncio.to_thread(self.worker_pid)
            if pid is None:
                drill.notes.append("no worker found to kill")
            else:
                os.killpg(pid, signal.SIGKILL)  # the worker and its pool, mid-task
                drill.notes.append(f"killed worker pid {pid}")
                drill.ended = time.time()
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    new = await asyncio.to_thread(self.worker_pid)
                    if new is not None and new != pid:
                        drill.worker_back = time.time() - drill.ended
                        break
                    await asyncio.sleep(0.2)
            return
        elif drill.name == "llm":
            await asyncio.to_thread(self.llm_control, fail_rate=1.0, fail_status=503, latency_ms=0)
            drill.notes.append(f"down {a.llm_down:g}s")
            down_from = time.time()
            await self.hold(a.llm_down)
            await asyncio.to_thread(self.llm_control, fail_rate=0.0, latency_ms=10_000)
            slow_from = time.time()
            bots_down = sum(1 for s, t in self.ledger.first_seen.items() if self.ledger.origin.get(s) == "bot" and down_from + 10 <= t < slow_from)
            drill.notes.append(f"bot lines while down (after 10s) {bots_down}")
            await self.hold(a.llm_slow)
            await asyncio.to_thread(self.llm_control, fail_rate=0.0, latency_ms=0)
            bots_slow = sum(1 for s, t in self.ledger.first_seen.items() if self.ledger.origin.get(s) == "bot" and slow_from <= t < time.time())
            drill.notes.append(f"slow (10s answers) {a.llm_slow:g}s: bot lines {bots_slow}")
        elif drill.name == "s3":
            self.proxy.down()
            await self.hold(a.s3_down)
            self.proxy.up()
            drill.notes.append(f"down {a.s3_down:g}s")
        drill.ended = time.time()

    async def await_recovery(self, drill: Drill) -> None:
        """Until a human message typed after the fault reached everyone, a persona spoke and the scribe
        caught up with what the room had when the fault ended (bounded by --recovery-timeout)."""
        end = drill.ended
        seq_at_end = await asyncio.to_thread(self._last_seq_retry)
        drill.room_seq_at_end = seq_at_end
        deadline = time.monotonic() + self.args.recovery_timeout
        while time.monotonic() < deadline:
            if drill.chat_recovered is None:
                delivered = [
                    self.ledger.all_seen[seq] for human in self.humans for cid, (seq, _) in human.acked.items()
                    if human.typed[cid] >= end and seq in self.ledger.all_seen
                ]
                if delivered:
                    drill.chat_recovered = min(delivered) - end
            if drill.bots_recovered is None:
                bots = [t for s, t in self.ledger.first_seen.items() if t >= end and self.ledger.origin.get(s) == "bot"]
                if bots:
                    drill.bots_recovered = min(bots) - end
            if drill.scribe_recovered is None:
                caught = [t for t, _last, _version, cursor in self.db_samples if t >= end and cursor >= seq_at_end]
                if caught:
                    drill.scribe_recovered = min(caught) - end
            if None not in (drill.chat_recovered, drill.bots_recovered, drill.scribe_recovered):
                break
            await asyncio.sleep(0.5)

    def _last_seq_retry(self) -> int:
        for _attempt in range(30):
            sample = self.sample_db()
            if sample is not None:
                return sample[0]
            time.sleep(1)
        return 0

    async def run_drills(self, faults: list[str], stop: asyncio.Event) -> None:
        await asyncio.sleep(max(0.0, self.warm_until - time.time()))
        for name in faults:
            if stop.is_set():
                break
            drill = Drill(name=name, started=time.time())
            self.drills.append(drill)
            log(f"fault {name}: injecting")
            try:
                await self.inject(drill)
            except Exception as exc:
                drill.notes.append(f"injection failed: {exc!r}")
                drill.ended = drill.ended or time.time()
            log(f"fault {name}: over after {drill.ended - drill.started:.1f}s; waiting for recovery")
            await self.await_recovery(drill)
            log(
                f"fault {name}: chat {fmt_s(drill.chat_recovered)}, personas {fmt_s(drill.bots_recovered)}, "
                f"scribe {fmt_s(drill.scribe_recovered)}"
            )
            await asyncio.sleep(self.args.settle)
            drill.settled = time.time()

    # -- the whole run --

    async def soak(self, cookies: list[str]) -> None:
        a = self.args
        ws_url = f"ws://127.0.0.1:{self.port}/ws/rooms/{ROOM}/"
        clients_deadline = asyncio.get_running_loop().time() + a.minutes * 60 + 3600  # hard bound, see stop below
        self.viewers = [RoomClient(name=f"v{n}", url=ws_url, origin=self.base, ledger=self.ledger) for n in range(a.viewers)]
        self.humans = [Human(name=f"h{n}", url=ws_url, origin=self.base, ledger=self.ledger, cookie=c) for n, c in enumerate(cookies)]
        everyone = [*self.viewers, *self.humans]
        self.ledger.clients = len(everyone)
        client_tasks = [asyncio.create_task(c.run(clients_deadline)) for c in everyone]
        connect_deadline = time.monotonic() + 60
        while any(c.baseline is None for c in everyone) and time.monotonic() < connect_deadline:
            await asyncio.sleep(0.2)
        log(f"{sum(c.baseline is not None for c in everyone)} of {len(everyone)} clients connected")
        self.t0 = time.time()
        self.warmup_seconds = min(a.warmup, a.minutes * 60 * 0.3)
        self.warm_until = self.t0 + self.warmup_seconds
        stop_load, stop_sampling = asyncio.Event(), asyncio.Event()
        sampler = asyncio.create_task(self.sampler(stop_sampling))
        typists = [asyncio.create_task(self.typist(h, n, stop_load)) for n, h in enumerate(self.humans)]
        drills = asyncio.create_task(self.run_drills(a.fault_list, stop_load))
        soak_end = self.t0 + a.minutes * 60
        last_report = time.time()
        # The soak lasts --minutes, longer only while a drill is still running (bounded by MAX_MINUTES).
        while time.time() < self.t0 + MAX_MINUTES * 60 and (time.time() < soak_end or not drills.done()):
            await asyncio.sleep(1)
            if time.time() - last_report >= 60:
                last_report = time.time()
                typed = sum(len(h.typed) for h in self.humans)
                log(f"t+{time.time() - self.t0:.0f}s: typed {typed}, seqs seen {len(self.ledger.first_seen)}, "
                    f"reconnects {sum(sum(c.closes.values()) for c in everyone)}")
        if not drills.done():
            drills.cancel()
        stop_load.set()
        self.load_ended = time.time()
        log("load stopped; draining the humans' outboxes and letting every client catch up")
        drain_deadline = time.monotonic() + a.drain_timeout
        while any(h.pending for h in self.humans) and time.monotonic() < drain_deadline:
            await asyncio.sleep(0.5)
        self.final_seq = await asyncio.to_thread(self._last_seq_retry)
        while time.monotonic() < drain_deadline and any(c.last_seq < self.final_seq for c in everyone):
            await asyncio.sleep(0.5)
        # The scribe must catch up with the room too.
        while time.monotonic() < drain_deadline + a.recovery_timeout:
            sample = await asyncio.to_thread(self.sample_db)
            if sample is not None and sample[2] >= self.final_seq:
                break
            await asyncio.sleep(1)
        stop_sampling.set()
        await sampler
        await asyncio.to_thread(self.sample_rss)
        for client in everyone:
            client.stopping = True
        for task in client_tasks:
            task.cancel()
        await asyncio.gather(*client_tasks, *typists, drills, return_exceptions=True)
        self.soak_seconds = self.load_ended - self.t0

    def stop_all(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        if self.proxy is not None:
            self.proxy.close()
        if self.moto is not None:
            self.moto.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.pg is not None:
            self.pg.remove()
        if self.args.keep_logs:
            log(f"logs kept in {self.log_dir}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def fmt_s(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}s"


# --- the verdict ---------------------------------------------------------------------------------
def verdict(soak: Soak) -> tuple[list[str], list[str]]:
    """The figures (lines to print) and the failed invariants."""
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone

    from chat.models import Message, Room
    from memory.models import ReflectionJob
    from scribe.models import ScribeDocument, ScribeRevision

    a = soak.args
    lines: list[str] = []
    failed: list[str] = []
    everyone: list[RoomClient] = [*soak.viewers, *soak.humans]
    room = Room.objects.get(slug=ROOM)
    rows = list(Message.objects.filter(room=room).values_list("seq", "origin", "client_id", "created_at"))
    created = {seq: at.timestamp() for seq, _o, _c, at in rows}
    db_seqs = sorted(created)
    origins = collections.Counter(origin for _s, origin, _c, _a in rows)

    # Delivery: every persisted seq after a client's first hello, up to the final seq.
    missing_by_seq: dict[int, int] = collections.Counter()
    missing_clients = 0
    for client in everyone:
        if client.baseline is None:
            failed.append(f"client {client.name} never connected")
            continue
        expected = [s for s in db_seqs if client.baseline < s <= soak.final_seq]
        absent = [s for s in expected if s not in client.seen]
        missing_clients += bool(absent)
        for seq in absent:
            missing_by_seq[seq] += 1
    deliveries = sum(len(c.seen) for c in everyone)
    duplicate_cids = list(
        Message.objects.filter(room=room, client_id__isnull=False).values("client_id").annotate(n=Count("seq")).filter(n__gt=1)
    )
    seq_gaps = sum(1 for x, y in zip(db_seqs, db_seqs[1:]) if y != x + 1)
    persisted_cids = {cid for _s, _o, cid, _a in rows if cid}
    typed = {cid: (h, at) for h in soak.humans for cid, at in h.typed.items()}
    refused = {cid: code for h in soak.humans for cid, code in h.refused.items()}
    vanished = [cid for cid in typed if cid not in persisted_cids and cid not in refused]
    refused_codes = collections.Counter(code for cid, code in refused.items() if cid not in persisted_cids)
    typed_latency = sorted(
        (h.typed[cid], soak.ledger.all_seen[seq] - h.typed[cid])
        for h in soak.humans for cid, (seq, _at) in h.acked.items() if seq in soak.ledger.all_seen
    )
    latencies = [latency for _t, latency in typed_latency]
    in_drills = [(d.started - 2, d.settled or soak.load_ended) for d in soak.drills]
    steady = [latency for t, latency in typed_latency if t >= soak.warm_until and not any(a <= t < b for a, b in in_drills)]

    lines.append("")
    lines.append(f"== soak: {soak.soak_seconds / 60:.1f} min of load, {len(soak.viewers)} viewers + {len(soak.humans)} humans, "
                 f"{a.rate:g} msg/s typed, faults: {', '.join(a.fault_list) or 'none'} ==")
    lines.append("")
    lines.append("messages")
    rows_out = [
        ("persisted in the room (human / bot / system)", f"{len(rows)} ({origins.get('human', 0)} / {origins.get('bot', 0)} / {origins.get('system', 0)})"),
        ("human messages typed / persisted / refused with an error / vanished", f"{len(typed)} / {len(typed) - len(vanished) - sum(refused_codes.values())} / {sum(refused_codes.values())} / {len(vanished)}"),
        ("refusals by code", ", ".join(f"{k} {v}" for k, v in sorted(refused_codes.items())) or "none"),
        ("human rate achieved", f"{len(typed) / max(soak.soak_seconds, 1):.2f} msg/s"),
        ("deliveries (distinct seq x client)", f"{deliveries}"),
        ("missing (persisted, never reached a client)", f"{sum(missing_by_seq.values())} deliveries of {len(missing_by_seq)} messages, {missing_clients} clients"),
        ("duplicates in the database (same client_id twice)", f"{len(duplicate_cids)}"),
        ("seq gaps in the database", f"{seq_gaps}"),
        ("re-deliveries ignored by seq (allowed around a resume)", f"{sum(c.redelivered for c in everyone)}"),
        ("seqs given up on by a client (room.js's 3 strikes)", f"{sum(len(c.gave_up) for c in everyone)}"),
        ("reconnects / resumes / resumes on a gap", f"{sum(sum(c.closes.values()) for c in everyone)} / {sum(c.resumes for c in everyone)} / {sum(c.gap_resumes for c in everyone)}"),
        ("socket closes by reason", ", ".join(f"{k} {v}" for k, v in sorted(sum((c.closes for c in everyone), collections.Counter()).items())) or "none"),
        ("human typed -> on every client, p50 / p95 / p99 / max, whole run", " / ".join(f"{percentile(latencies, p) * 1000:.0f}" for p in (50, 95, 99, 100)) + " ms"),
        ("  the same outside the drills", " / ".join(f"{percentile(steady, p) * 1000:.0f}" for p in (50, 95, 99, 100)) + " ms"),
    ]
    lines += table(rows_out)
    if missing_by_seq:
        failed.append(f"{len(missing_by_seq)} persisted messages did not reach every client")
    if duplicate_cids:
        failed.append(f"{len(duplicate_cids)} client_ids persisted twice")
    if seq_gaps:
        failed.append(f"{seq_gaps} seq gaps in the database")
    if vanished:
        failed.append(f"{len(vanished)} human messages neither persisted nor refused")

    # Queues.
    lines.append("")
    lines.append(f"celery queues (Redis list lengths every {SAMPLE_EVERY:g}s, {len(soak.queue_samples)} samples, {soak.queue_errors} while Redis was down)")
    queue_rows = []
    for queue in QUEUES:
        values = [sample[queue] for _t, sample in soak.queue_samples]
        after = [sample[queue] for t, sample in soak.queue_samples if t >= soak.warm_until]
        queue_rows.append((queue, f"max {max(values, default=0)}, mean {statistics.fmean(after) if after else 0:.1f}, last {values[-1] if values else 0}"))
        if max(values, default=0) > QUEUE_DEPTH_LIMIT:
            failed.append(f"queue {queue} reached {max(values)} (> {QUEUE_DEPTH_LIMIT})")
    lines += table(queue_rows)

    # Memory.
    lines.append("")
    span = soak.load_ended - soak.warm_until
    judged = span >= RSS_JUDGED_AFTER_SECONDS
    drills_over = soak.drills[-1].settled if soak.drills and soak.drills[-1].settled else None
    lines.append(
        f"RSS per process (MB): first sample after warm-up -> {'when the drills were over -> ' if drills_over else ''}last"
        f"{'' if judged else ' - run too short to judge'}"
    )
    mem_rows = []
    for key, series in sorted(soak.rss.items()):
        # A process started mid-run (restarted by a drill) warms up too: its baseline is its own.
        baseline_at = max(soak.warm_until, series[0][0] + soak.warmup_seconds)
        after = [(t, v) for t, v in series if t >= baseline_at]
        if len(after) < 2:
            mem_rows.append((key, f"{series[-1][1]:7.1f}  (exited or started late: {len(series)} samples, not judged)"))
            continue
        first, last = after[0][1], after[-1][1]
        growth = (last - first) / first * 100 if first else 0.0
        covered = after[-1][0] - after[0][0]
        mark = ""
        if key.startswith("moto["):
            mark = "  (the test S3 server keeps every stored version in memory: data, not judged)"
        elif judged and covered >= 0.6 * span and growth > RSS_GROWTH_LIMIT_PCT and last - first > RSS_GROWTH_LIMIT_MB:
            mark = "  <- grew"
            failed.append(f"RSS of {key} grew {growth:.0f}% ({first:.0f} -> {last:.0f} MB)")
        middle = ""
        if drills_over and after[0][0] < drills_over < after[-1][0]:
            middle = f" -> {min(after, key=lambda sample: abs(sample[0] - drills_over))[1]:7.1f}"
        mem_rows.append((
            key,
            f"{first:7.1f}{middle} -> {last:7.1f}  ({growth:+.1f}%, over {covered / 60:.1f} min, peak {max(v for _t, v in after):.1f}){mark}",
        ))
    lines += table(mem_rows)

    # Scribe and reflection.
    document = ScribeDocument.objects.get(pk=soak.document_id)
    revisions = list(
        ScribeRevision.objects.filter(document=document, first_seq__isnull=False).order_by("version").values_list("first_seq", "last_seq")
    )
    overlaps = sum(1 for (_f1, l1), (f2, _l2) in zip(revisions, revisions[1:]) if f2 <= l1)
    jobs = collections.Counter(ReflectionJob.objects.values_list("status", flat=True))
    stuck = ReflectionJob.objects.filter(status="running", leased_until__lt=timezone.now()).count()
    lines.append("")
    lines.append("scribe and reflection")
    lines += table([
        ("scribe document: version / cursor / room's final seq", f"{document.version} / {document.cursor_seq} / {soak.final_seq}"),
        ("scribe updates / turns folded twice (overlapping ranges)", f"{len(revisions)} / {overlaps}"),
        ("scribe status now / last error it recorded", f"{document.status} / {document.last_error[:80] or '-'}"),
        ("reflection jobs by status", ", ".join(f"{k} {v}" for k, v in sorted(jobs.items())) or "none"),
        ("reflection jobs running past their lease", f"{stuck}"),
    ])
    if overlaps:
        failed.append(f"scribe folded turns twice ({overlaps} overlapping updates)")
    if document.cursor_seq < soak.final_seq:
        failed.append(f"scribe did not catch up ({document.cursor_seq} < {soak.final_seq})")
    if stuck:
        failed.append(f"{stuck} reflection jobs stuck past their lease")

    # Fault drills.
    if soak.drills:
        lines.append("")
        lines.append("fault drills (recovery times from the end of the fault)")
        header = ("fault", "lost", "dups", "refused", "typed->all p50/p99", "chat", "personas", "scribe", "notes")
        body = []
        for drill in soak.drills:
            window = (drill.started - 2, drill.settled or soak.load_ended)
            lost = sum(1 for seq in missing_by_seq if window[0] <= created.get(seq, 0) < window[1])
            lost += sum(1 for cid in vanished if window[0] <= typed[cid][1] < window[1])
            dups = sum(1 for row in duplicate_cids if window[0] <= typed.get(row["client_id"], (None, 0))[1] < window[1])
            refusals = collections.Counter(code for cid, code in refused.items() if window[0] <= typed[cid][1] < window[1])
            # An instant fault (the worker kill) counts the ten seconds after it.
            during_end = max(drill.ended, drill.started + 10)
            during = [latency for typed_at, latency in typed_latency if drill.started <= typed_at < during_end]
            notes = list(drill.notes)
            if drill.worker_back is not None:
                notes.append(f"worker back after {drill.worker_back:.1f}s")
            healthz = sorted({str(s) for t, s in soak.healthz if drill.started <= t <= drill.ended})
            if healthz and drill.name in ("redis", "postgres"):
                notes.append(f"/healthz while down: {', '.join(healthz)}")
            body.append((
                drill.name, str(lost), str(dups), ", ".join(f"{k} {v}" for k, v in refusals.items()) or "0",
                f"{percentile(during, 50) * 1000:.0f} / {percentile(during, 99) * 1000:.0f} ms" if during else "-",
                fmt_s(drill.chat_recovered), fmt_s(drill.bots_recovered), fmt_s(drill.scribe_recovered), "; ".join(notes),
            ))
            if lost:
                failed.append(f"fault {drill.name}: {lost} messages lost")
            if dups:
                failed.append(f"fault {drill.name}: {dups} duplicates")
            for what, value in (("chat", drill.chat_recovered), ("personas", drill.bots_recovered), ("scribe", drill.scribe_recovered)):
                if value is None:
                    failed.append(f"fault {drill.name}: {what} did not recover within {a.recovery_timeout:g}s")
            if drill.name == "worker" and drill.worker_back is None:
                failed.append("fault worker: no worker came back")
        lines += grid(header, body)
    connection.close()
    return lines, failed


def table(rows: list[tuple[str, str]]) -> list[str]:
    width = max((len(k) for k, _ in rows), default=0)
    return [f"  {k.ljust(width)}  {v}" for k, v in rows]


def grid(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = ["  " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths))]
    out.append("  " + "-+-".join("-" * w for w in widths))
    out += ["  " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return out


# --- command line ----------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help=f"load duration (default 10, at most {MAX_MINUTES:g})")
    parser.add_argument("--rate", type=float, default=5.0, help="human messages per second in total (default 5)")
    parser.add_argument("--humans", type=int, default=8, help="signed-in humans typing (default 8)")
    parser.add_argument("--viewers", type=int, default=30, help="anonymous WebSocket viewers (default 30)")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker concurrency (default 2)")
    parser.add_argument("--faults", default="all", help=f"'all', 'none' or a comma list of {','.join(ALL_FAULTS)}")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the first fault and the RSS baseline (at most 30%% of the run)")
    parser.add_argument("--fault-hold", type=float, default=10.0, help="seconds Redis and PostgreSQL stay down (default 10)")
    parser.add_argument("--llm-down", type=float, default=60.0, help="seconds the LLM answers 503 (default 60)")
    parser.add_argument("--llm-slow", type=float, default=60.0, help="then seconds it answers in 10 s (default 60)")
    parser.add_argument("--s3-down", type=float, default=45.0, help="seconds the S3 endpoint refuses connections (default 45)")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds between one drill's recovery and the next fault")
    parser.add_argument("--recovery-timeout", type=float, default=120.0, help="longest wait for a drill's recovery (default 120)")
    parser.add_argument("--drain-timeout", type=float, default=60.0, help="longest wait for outboxes and clients at the end")
    parser.add_argument("--reflection-lease", type=int, default=60, help="CHATTER_REFLECTION_LEASE_SECONDS for the run (default 60)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the work dir with every process's log")
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= MAX_MINUTES:
        parser.error(f"--minutes must be in (0, {MAX_MINUTES:g}]")
    if not 0 < args.rate <= MAX_RATE:
        parser.error(f"--rate must be in (0, {MAX_RATE:g}]")
    if not 1 <= args.humans <= MAX_HUMANS or not 0 <= args.viewers <= MAX_VIEWERS:
        parser.error(f"--humans 1..{MAX_HUMANS}, --viewers 0..{MAX_VIEWERS}")
    for name in ("fault_hold", "llm_down", "llm_slow", "s3_down", "settle", "recovery_timeout", "drain_timeout", "warmup"):
        if not 0 <= getattr(args, name) <= 600:
            parser.error(f"--{name.replace('_', '-')} must be in [0, 600]")
    faults = ALL_FAULTS if args.faults == "all" else () if args.faults == "none" else tuple(f.strip() for f in args.faults.split(",") if f.strip())
    unknown = [f for f in faults if f not in ALL_FAULTS]
    if unknown:
        parser.error(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(ALL_FAULTS)}")
    args.fault_list = list(faults)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def _terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    soak = Soak(args)
    try:
        soak.start_services()
        cookies = soak.prepare_room()
        asyncio.run(soak.soak(cookies))
        lines, failed = verdict(soak)
        print("\n".join(lines))
        print("")
        if failed:
            print("FAILED:")
            for reason in failed:
                print(f"  - {reason}")
        else:
            print("all invariants held: nothing lost, nothing twice, memory flat, queues bounded, every drill recovered")
        sys.stdout.flush()
        return 1 if failed else 0
    except BaseException:
        if soak.runner is not None:
            print(f"runchatter's last output:\n{soak.runner.log_tail(40)}", file=sys.stderr)
        raise
    finally:
        soak.stop_all()


if __name__ == "__main__":
    sys.exit(main())
