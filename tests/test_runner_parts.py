"""The runner's parts without a whole runner: the watchdog, the console and its log files, the monitor."""
from __future__ import annotations

import io
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings

from chatter_site.lib.console_events import EVENT_MARK
from chatter_site.lib.runner import Console, Monitor
from chatter_site.lib.runner.children import WATCHDOG_SCRIPT
from chatter_site.lib.runner.monitor import Snapshot
from chatter_site.lib.runner.watchdog import live_members
from tests.support.processes import free_port

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def stubborn_group() -> subprocess.Popen[bytes]:
    """A process leading its own group that ignores SIGTERM, as a Celery warm shutdown can."""
    return subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE,
        process_group=0,
    )


def start_watchdog(*, grace: str = "0.5") -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(WATCHDOG_SCRIPT), "--grace", grace], stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def test_it_kills_every_group_it_watches_when_its_input_ends_without_exit() -> None:
    child = stubborn_group()
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        watchdog = start_watchdog()
        out, _ = watchdog.communicate(f"+{child.pid} worker\n".encode(), timeout=30)  # EOF: the runner died

        assert child.wait(timeout=10) == -signal.SIGKILL
        assert b"stopping worker" in out and b"had to kill worker" in out
    finally:
        child.kill()
        child.wait()


def test_it_leaves_groups_alone_after_a_clean_exit() -> None:
    child = stubborn_group()
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        watchdog = start_watchdog()
        watchdog.communicate(f"+{child.pid} worker\nexit\n".encode(), timeout=30)

        assert watchdog.returncode == 0
        assert child.poll() is None and live_members({child.pid}) == {child.pid}
    finally:
        child.kill()
        child.wait()


def test_it_writes_child_lines_to_the_log_and_only_events_to_the_console(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(out, colour=False, log_dir=tmp_path)

    console.child_line("worker", "2026-01-01 level=INFO Task x received")
    console.child_line("worker", "2026-01-01 level=ERROR boom")
    console.child_line("worker", EVENT_MARK + "dead letter: reflection job 7 failed 5 times")
    console.close()

    assert (tmp_path / "worker.log").read_text().splitlines()[:2] == [
        "2026-01-01 level=INFO Task x received",
        "2026-01-01 level=ERROR boom",
    ]
    [line] = out.getvalue().splitlines()
    assert line.split(maxsplit=1)[1] == "worker   dead letter: reflection job 7 failed 5 times"
    assert console.take_error_counts() == {"worker": 1}


def test_it_shows_every_child_line_when_verbose(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(out, colour=False, verbose=True, log_dir=tmp_path)

    console.child_line("web", "GET /healthz 200")
    console.close()

    assert out.getvalue() == "[web]    GET /healthz 200\n"
    assert (tmp_path / "web.log").read_text() == "GET /healthz 200\n"


def test_it_keeps_the_previous_runs_log(tmp_path: Path) -> None:
    (tmp_path / "beat.log").write_text("last run\n")
    console = Console(io.StringIO(), colour=False, log_dir=tmp_path)

    console.child_line("beat", "this run")
    console.close()

    assert (tmp_path / "beat.log").read_text() == "this run\n"
    assert (tmp_path / "beat.log.1").read_text() == "last run\n"


def probe(monitor: Monitor) -> Snapshot:
    """In a thread of its own, as the runner runs it: it closes its database connections after each probe."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(monitor.probe).result(timeout=30)


@pytest.mark.django_db
def test_it_reports_a_redis_outage_once_and_its_end(tmp_path: Path) -> None:
    out = io.StringIO()
    monitor = Monitor(
        console=Console(out, colour=False), redis_url=f"redis://127.0.0.1:{free_port()}/0", queues=("default", "llm")
    )

    assert probe(monitor).queues is None
    assert probe(monitor).queues is None  # still down: no second line
    monitor.redis_url, monitor._redis = settings.REDIS_URL, None
    snapshot = probe(monitor)

    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert "outage" in lines[0] and "redis unreachable (ConnectionError" in lines[0]
    assert "redis is back after" in lines[1]
    assert snapshot.queues is not None and set(snapshot.queues) == {"default", "llm"}
    assert snapshot.messages == 0
    assert monitor.status_line(snapshot).startswith("no messages in the last minute · queued: default ")
