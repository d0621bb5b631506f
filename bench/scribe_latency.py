#!/usr/bin/env python
"""Scribe benchmark: an update's own overhead, and message-to-visible latency with a slow LLM.

    python bench/scribe_latency.py                      # 200 overhead samples; 30 messages, 1 per second, 2 s LLM
    python bench/scribe_latency.py --interval 3         # one message per update (no batching)
    python bench/scribe_latency.py --storage s3         # versions in S3 (moto_server on loopback)
    python bench/scribe_latency.py --help

Two measurements, both through the real code (scribe.services.document_update_run, the openai client
over HTTP to a local OpenAI-compatible server, PostgreSQL, Redis, the "documents" storage):

1. overhead: in this process, one message then one update, `--updates` times, with an LLM that
   answers at once. Timers inside the update (scribe.services.StepReport) split each update into the
   LLM call and everything else: reading the document and the turns, the status write and push,
   the prompt, the answer check, the storage write, the conditional commit with its revision, and
   the push of the new version. The document grows by one paragraph per update.
2. latency: a real Daphne and a real Celery worker (queue "scribe", 2 processes), the LLM answering
   in `--llm-latency` seconds. This process posts `--messages` messages through the gateway service
   (chat.services.message_ingest: the on-commit signal triggers the update) every `--interval`
   seconds, and a WebSocket client on the document's socket (/ws/scribe/<id>/, what the page's
   script applies as it arrives) records when a version containing each message first arrives.
   The worker's own overhead per update is read back from the revisions (llm_ms, overhead_ms).

The LLM is this script's own OpenAI-compatible server (the offline provider's HTTP server with a
scribe answer: the document plus one paragraph per new turn), so the numbers are the scribe's, not
a model's. Needs PostgreSQL (`--database-url`; the database is created if missing and migrated) and
Redis (`--redis-url`; that database is FLUSHED at start). Every count and duration is capped; all
children are stopped at exit.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._child import Child, free_port, start_moto  # noqa: E402

MAX_UPDATES = 2000
MAX_MESSAGES = 300
OVERHEAD_TARGET_MS = 200.0
VISIBLE_TARGET_S = 5.0
SECRET_KEY = "bench-scribe-latency-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz"
S3_ACCESS_KEY = "bench-access-key"
S3_SECRET_KEY = "bench-secret-key"


def percentile(values: list[float], pct: float) -> float:
    """Nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values) if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


# --- the LLM ---------------------------------------------------------------------------------------
def scribe_answer(body: dict[str, Any]) -> str | None:
    """The document without its placeholder, plus one paragraph per new turn."""
    from chatter_site.lib.offline_llm.prompt import read_block, texts_by_role
    from scribe.prompts import PLACEHOLDER

    user = texts_by_role(body.get("messages") or [], ("user",))
    document, turns = read_block(user, "scribe-document"), read_block(user, "scribe-turns")
    if not isinstance(document, str) or not isinstance(turns, list):
        return None
    text = "\n".join(line for line in document.rstrip().split("\n") if line.strip() != PLACEHOLDER).rstrip()
    for turn in turns:
        text += f"\n\n{turn['author']} remarked that {turn['text']}."
    return text + "\n"


def start_llm_server():
    from chatter_site.lib.offline_llm import OfflineLLMServer

    class ScribeLLMServer(OfflineLLMServer):
        def scripted_content(self, path: str, body: dict[str, Any]) -> str | None:
            return scribe_answer(body)

    return ScribeLLMServer().start_in_thread()


def set_latency(server, seconds: float) -> None:
    server.set_faults({"latency_ms": int(seconds * 1000)})


# --- processes ---------------------------------------------------------------------------------------
def start_daphne(env: dict[str, str], log_dir: Path) -> tuple[Child, str]:
    port = free_port()
    child = Child("daphne", [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "chatter_site.asgi:application"], env, log_dir)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"daphne exited:\n{child.log_tail()}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return child, base
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"daphne not healthy:\n{child.log_tail()}")


def start_worker(env: dict[str, str], log_dir: Path) -> Child:
    child = Child(
        "celery-scribe",
        [sys.executable, "-m", "celery", "-A", "chatter_site", "worker", "-Q", "scribe", "-c", "2",
         "-n", f"bench-scribe-{secrets.token_hex(3)}@%h", "--without-mingle", "--without-gossip", "-l", "INFO"],
        env,
        log_dir,
    )
    child.wait_for_log(" ready.", timeout=60)
    return child


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')


# --- the two measurements --------------------------------------------------------------------------------
def bot_message(room_slug: str, text: str):
    from chat.services import draft_parse, message_ingest

    return message_ingest(
        draft=draft_parse(
            {
                "room": room_slug,
                "origin": "bot",
                "author": {"name": "bench_bot", "color": "#33aaff", "badges": ["bot"]},
                "author_key": "bot:bench_bot",
                "text": text,
            }
        )
    )


def new_room():
    from chat.services import room_create

    slug = f"bench-scribe-{secrets.token_hex(4)}"
    return room_create(slug=slug, title=slug)


def measure_overhead(updates: int, llm) -> dict[str, Any]:
    from scribe.services import document_start, document_toggle, document_update_run

    set_latency(llm, 0)
    room = new_room()
    document = document_start(room_slug=room.slug, title="Overhead run", style="factual")
    overhead, llm_seconds, totals = [], [], []
    for n in range(updates):
        bot_message(room.slug, f"overhead turn {n}: the runner takes the skip at the castle and chat counts the frames")
        report = document_update_run(document_id=document.pk)
        for step in report.applied:
            overhead.append(step.overhead_seconds * 1000)
            llm_seconds.append(step.llm_seconds * 1000)
            totals.append(step.total_seconds * 1000)
    document_toggle(document_id=document.pk, enabled=False)
    document.refresh_from_db()
    return {
        "overhead_ms": summary(overhead),
        "llm_ms": summary(llm_seconds),
        "total_ms": summary(totals),
        "final_document_bytes": len(document.content.encode()),
    }


class SocketRecorder(threading.Thread):
    """Reads the document socket; records (receive time, version, content) of every document frame."""

    def __init__(self, url: str, origin: str) -> None:
        super().__init__(name="scribe-socket", daemon=True)
        self.url, self.origin = url, origin
        self.frames: list[tuple[float, int, str]] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.stopped = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        from websockets.sync.client import connect

        try:
            with connect(self.url, origin=self.origin, open_timeout=10, max_size=2**24) as websocket:
                self.ready.set()
                while not self.stopped.is_set():
                    try:
                        raw = websocket.recv(timeout=0.5)
                    except TimeoutError:
                        continue
                    received = time.time()
                    frame = json.loads(raw)
                    if frame.get("type") in ("hello", "document"):
                        document = frame["document"]
                        with self.lock:
                            self.frames.append((received, document["version"], document["content"]))
        except BaseException as error:  # reported by the caller
            self.error = error
            self.ready.set()

    def wait_ready(self) -> None:
        if not self.ready.wait(15) or self.error is not None:
            raise RuntimeError(f"document socket did not open: {self.error!r}")

    def first_seen(self, text: str) -> float | None:
        with self.lock:
            return next((at for at, _, content in self.frames if text in content), None)

    def close(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


def measure_latency(*, messages: int, interval: float, llm_latency: float, warmup: int, llm, env, log_dir: Path) -> dict[str, Any]:
    import redis
    from django.conf import settings

    from scribe.models import ScribeDocument
    from scribe.services import document_start

    redis.Redis.from_url(settings.REDIS_URL).delete("scribe")  # triggers left over from the overhead run
    daphne, base = start_daphne(env, log_dir)
    worker = start_worker(env, log_dir)
    recorder = None
    try:
        set_latency(llm, llm_latency)
        room = new_room()
        document = document_start(room_slug=room.slug, title="Latency run", style="literary")
        recorder = SocketRecorder(base.replace("http://", "ws://") + f"/ws/scribe/{document.pk}/", base)
        recorder.start()
        recorder.wait_ready()
        tag = secrets.token_hex(3)
        sent: list[tuple[str, float]] = []
        next_at = time.monotonic()
        for n in range(messages):
            time.sleep(max(0.0, next_at - time.monotonic()))
            text = f"latency message {n} {tag}"
            sent.append((text, time.time()))
            bot_message(room.slug, text)
            next_at += interval
        deadline = time.monotonic() + max(30.0, llm_latency * 4)
        while time.monotonic() < deadline and any(recorder.first_seen(text) is None for text, _ in sent):
            time.sleep(0.05)
        latencies = [(recorder.first_seen(text) or float("inf")) - at for text, at in sent]
        missing = sum(1 for value in latencies if value == float("inf"))
        measured = [value for value in latencies[warmup:] if value != float("inf")]
        revisions = list(ScribeDocument.objects.get(pk=document.pk).revisions.filter(kind="update").order_by("version"))
        return {
            "messages": messages,
            "interval_s": interval,
            "llm_latency_s": llm_latency,
            "warmup_excluded": warmup,
            "missing": missing,
            "visible_s": summary(measured),
            "updates": len(revisions),
            "turns_per_update": statistics.fmean([r.turns for r in revisions]) if revisions else 0.0,
            "worker_overhead_ms": summary([r.overhead_ms for r in revisions if r.overhead_ms is not None]),
            "worker_llm_ms": summary([r.llm_ms for r in revisions if r.llm_ms is not None]),
        }
    finally:
        if recorder is not None:
            recorder.close()
        worker.stop()
        daphne.stop()


# --- main ---------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="See the module docstring and bench/README.md.")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/chatter_bench",
                        help="PostgreSQL (created if missing, migrated); default $DATABASE_URL or chatter_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="Redis database to use; it is FLUSHED")
    parser.add_argument("--updates", type=int, default=200, help=f"overhead samples (max {MAX_UPDATES})")
    parser.add_argument("--messages", type=int, default=30, help=f"messages in the latency run (max {MAX_MESSAGES})")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between messages in the latency run")
    parser.add_argument("--llm-latency", type=float, default=2.0, help="seconds the LLM takes per answer in the latency run")
    parser.add_argument("--warmup", type=int, default=2, help="first messages left out of the latency percentiles")
    parser.add_argument("--storage", choices=("fs", "s3"), default="fs", help="filesystem, or S3 on a local moto_server")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-migrate", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--keep-logs", action="store_true", help="keep the children's logs (path printed)")
    args = parser.parse_args(argv)
    if not 1 <= args.updates <= MAX_UPDATES or not 1 <= args.messages <= MAX_MESSAGES:
        parser.error(f"--updates 1..{MAX_UPDATES}, --messages 1..{MAX_MESSAGES}")
    if not 0.05 <= args.interval <= 30 or not 0 <= args.llm_latency <= 30:
        parser.error("--interval 0.05..30, --llm-latency 0..30")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-scribe-"))
    log_dir = work / "logs"
    log_dir.mkdir()
    children: list[Child] = []

    def _terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    try:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "chatter_site.settings",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "CHATTER_SECRET_KEY": SECRET_KEY,
            "CHATTER_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CHATTER_VAR_DIR": str(work / "var"),
            "CHATTER_DB_CONN_MAX_AGE": "60",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if args.storage == "s3":
            moto, s3_url = start_moto(log_dir, access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY)
            children.append(moto)
            bucket = f"bench-scribe-{secrets.token_hex(4)}"
            import boto3

            boto3.client("s3", endpoint_url=s3_url, aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=S3_SECRET_KEY,
                         region_name="us-east-1").create_bucket(Bucket=bucket)
            env.update({"CHATTER_S3_BUCKET": bucket, "AWS_S3_ENDPOINT_URL": s3_url, "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
                        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"})
        llm = start_llm_server()
        env.update({"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "bench"})
        os.environ.clear()
        os.environ.update(env)

        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
        ensure_database(args.database_url)
        if not args.skip_migrate:
            done = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
                return 2
        import logging

        import django

        django.setup()
        logging.getLogger("chatter.scribe").setLevel(logging.WARNING)
        results: dict[str, Any] = {"storage": args.storage, "cpus": os.cpu_count()}
        if not args.skip_overhead:
            results["overhead"] = measure_overhead(args.updates, llm)
        if not args.skip_latency:
            results["latency"] = measure_latency(
                messages=args.messages, interval=args.interval, llm_latency=args.llm_latency, warmup=args.warmup,
                llm=llm, env=env, log_dir=log_dir,
            )
        report(results, as_json=args.json)
        met = True
        if "overhead" in results:
            met &= results["overhead"]["overhead_ms"]["p95"] < OVERHEAD_TARGET_MS
        if "latency" in results:
            met &= results["latency"]["visible_s"]["p95"] < VISIBLE_TARGET_S and results["latency"]["missing"] == 0
        return 0 if met else 1
    finally:
        for child in children:
            child.stop()
        if args.keep_logs:
            print(f"logs kept in {log_dir}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", str(work)], check=False)


def report(results: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(results, indent=2))
        return
    print(f"scribe bench: storage={results['storage']}, {results['cpus']} CPUs")
    if "overhead" in results:
        o = results["overhead"]
        ms = o["overhead_ms"]
        print(f"per-update overhead (LLM excluded), {ms['n']} updates in-process, document grown to "
              f"{o['final_document_bytes'] / 1024:.1f} KiB: p50 {ms['p50']:.1f} ms, p95 {ms['p95']:.1f} ms, "
              f"max {ms['max']:.1f} ms (LLM call p50 {o['llm_ms']['p50']:.1f} ms) "
              f"-> target p95 < {OVERHEAD_TARGET_MS:.0f} ms: {'met' if ms['p95'] < OVERHEAD_TARGET_MS else 'MISSED'}")
    if "latency" in results:
        lat = results["latency"]
        vis, wo = lat["visible_s"], lat["worker_overhead_ms"]
        print(f"message -> visible on the document socket, LLM {lat['llm_latency_s']:g} s, one message every "
              f"{lat['interval_s']:g} s, {lat['messages']} messages ({lat['warmup_excluded']} warm-up left out): "
              f"p50 {vis['p50']:.2f} s, p95 {vis['p95']:.2f} s, max {vis['max']:.2f} s, missing {lat['missing']} "
              f"-> target p95 < {VISIBLE_TARGET_S:.0f} s: "
              f"{'met' if vis['p95'] < VISIBLE_TARGET_S and lat['missing'] == 0 else 'MISSED'}")
        print(f"  {lat['updates']} updates, {lat['turns_per_update']:.1f} turns per update; in the worker: overhead "
              f"p50 {wo['p50']:.1f} ms, p95 {wo['p95']:.1f} ms; LLM p50 {lat['worker_llm_ms']['p50']:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
