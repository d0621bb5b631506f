#!/usr/bin/env python
"""`runchatter` from nothing, as a new user runs it: how fast it comes up, and how much it prints.

    python bench/startup.py                 # one run, 5 minutes on the console
    python bench/startup.py --minutes 1     # shorter

Each run starts `manage.py runchatter` with an empty CHATTER_VAR_DIR of its own (SQLite, the
embedded Redis, Chroma and offline LLM: the embedded defaults, the demo room seeded) and no
DATABASE_URL / REDIS_URL / OPENAI_* in its environment, and measures from the launch:
- healthy: /healthz answers 200;
- first context: the demo room's stream context is published;
- 3 personas talking: three different bots have posted in the demo room (the README's "within 15 s");
then counts the console lines after the banner for --minutes (status lines included), and the
lines in var/log/*.log over the same run, and stops it with Ctrl-C (SIGINT).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._child import ROOT, free_port  # noqa: E402

BANNER_END = "Press Ctrl-C to stop."
UNSET = ("DATABASE_URL", "REDIS_URL", "CHATTER_RUNTIME_DIR", "PROMETHEUS_MULTIPROC_DIR", "PORT", "OPENAI_API_KEY",
         "OPENAI_BASE_URL", "CHATTER_VECTOR_STORE")


def get_json(url: str) -> object | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read()) if response.status == 200 else None
    except (OSError, ValueError, urllib.error.HTTPError):
        return None


def wait(predicate, *, proc: subprocess.Popen, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"runchatter exited ({proc.returncode}) before {what}")
        if predicate():
            return time.monotonic()
        time.sleep(0.1)
    raise SystemExit(f"no {what} within {timeout:.0f}s")


def run_once(*, minutes: float, work: Path) -> dict[str, float]:
    var_dir = work / "var"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if key not in UNSET}
    env.update(CHATTER_VAR_DIR=str(var_dir), NO_COLOR="1", PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="chatter_site.settings")
    console = work / "console.txt"
    with open(console, "wb") as out:
        launched = time.monotonic()
        proc = subprocess.Popen([sys.executable, "manage.py", "runchatter", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        healthy = wait(lambda: get_json(base + "/healthz") is not None, proc=proc, timeout=180, what="healthy runner")
        context = wait(lambda: (get_json(base + "/api/rooms/demo/context") or {}).get("transcript"), proc=proc,
                       timeout=180, what="stream context")

        def bots() -> int:
            items = get_json(base + "/api/rooms/demo/messages?limit=500") or []
            return len({item["author"]["name"] for item in items if item["origin"] == "bot"})

        talking = wait(lambda: bots() >= 3, proc=proc, timeout=180, what="3 personas talking")
        banner_at = console.read_text(errors="replace").find(BANNER_END)
        deadline = time.monotonic() + minutes * 60
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(1)
        text = console.read_text(errors="replace")
        after_banner = text[banner_at + len(BANNER_END):].strip().splitlines() if banner_at >= 0 else text.splitlines()
        log_lines = sum(len(path.read_bytes().splitlines()) for path in (var_dir / "log").glob("*.log"))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return {
        "healthy_s": healthy - launched,
        "first_context_s": context - launched,
        "three_personas_s": talking - launched,
        "console_lines_after_banner": len(after_banner),
        "log_lines": log_lines,
        "minutes": minutes,
        "console": after_banner,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to watch the console after 3 personas talk (default 5)")
    parser.add_argument("--runs", type=int, default=1, help="fresh starts to measure (default 1)")
    parser.add_argument("--show", action="store_true", help="print the console lines after the banner")
    args = parser.parse_args()
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="chatter-startup-") as work:
            result = run_once(minutes=args.minutes, work=Path(work))
        print(
            f"run {run}: healthy {result['healthy_s']:.1f}s, first context {result['first_context_s']:.1f}s, "
            f"3 personas talking {result['three_personas_s']:.1f}s after launch; "
            f"{result['console_lines_after_banner']} console lines after the banner in the next {args.minutes:g} min "
            f"({result['log_lines']} lines in var/log)"
        )
        if args.show:
            print("\n".join(f"    {line}" for line in result["console"]))


if __name__ == "__main__":
    main()
