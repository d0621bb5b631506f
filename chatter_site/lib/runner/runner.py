"""The runner itself: options, start-up order, supervision and shutdown (see the package docstring)."""
from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import redis
from django.apps import apps
from django.conf import settings
from django.db import connections
from django.utils.module_loading import import_string

from chatter_site.lib.errors import ChatterError, ErrorCode
from chatter_site.lib.runner.banner import BannerFacts, banner_lines, describe_database
from chatter_site.lib.runner.children import Child, Watchdog, describe_exit, signal_group, start_child
from chatter_site.lib.runner.commands import (
    beat_command,
    daphne_command,
    demo_stream_command,
    migrate_command,
    seed_command,
    worker_command,
)
from chatter_site.lib.runner.console import Console, Output
from chatter_site.lib.runner.demo_stream import RESUME_IDLE_SECONDS, DemoStreamWatch, exited_by_yielding
from chatter_site.lib.runner.embedded import browser_host, check_port_free, free_port, health_status
from chatter_site.lib.runner.environment import METRICS_DIRNAME, child_environment
from chatter_site.lib.runner.haproxy import haproxy_command, haproxy_config, haproxy_executable
from chatter_site.lib.runner.monitor import Monitor
from chatter_site.lib.runner.services import EmbeddedServices
from chatter_site.lib.runtime import clear_services, development_secret_key_ensure, read_services, write_services

# Deadlines for events, not expected durations: a loaded 2-core machine took over 30 s once.
HEALTH_TIMEOUT = 90.0
SETUP_TIMEOUT = 900.0  # migrations of a large database
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.2
BEAT_PIDFILE = "celerybeat.pid"
LOG_DIRNAME = "log"  # under VAR_DIR: each child's full output, var/log/<child>.log
DEMO_ROOM_SLUG = "demo"
# App processes hold no state a restart loses (the broker and the database keep it), so one that
# dies is started again, like a process supervisor would; the embedded services are not: their
# state died with them. More than RESTART_LIMIT restarts of one process within RESTART_WINDOW is a
# crash loop, which still takes the whole system down loudly.
RESTARTABLE = ("web", "worker", "beat", "stream", "lb")
HAPROXY_CONFIG = "haproxy.cfg"
RESTART_LIMIT = 5
RESTART_WINDOW = 600.0
RESTART_DELAY_MAX = 8.0


@dataclass(frozen=True)
class RunOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    daphnes: int = 1  # more than one: HAProxy on the port, the Daphnes on loopback ports behind it
    health_timeout: float = HEALTH_TIMEOUT
    colour: bool | None = None  # None: colour when the output is a terminal and NO_COLOR is unset
    demo_stream: bool = True  # play the bundled stream script into the demo room
    verbose: bool = False  # every child's output on the console too, not only in var/log
    status_interval: float = 60.0  # seconds between status lines


@dataclass
class StopRequest:
    """Set from signal handlers; handlers only flip flags and send signals, never print or lock."""

    requested: bool = False
    forced: bool = False
    signal_name: str = ""


class _Interrupted(Exception):
    """Ctrl-C arrived while still starting up: skip to the shutdown."""


# --- the runner -----------------------------------------------------------------------------------


class Runner:
    def __init__(self, *, options: RunOptions, out: Output) -> None:
        self.options = options
        self.log_dir = Path(settings.VAR_DIR) / LOG_DIRNAME
        self.console = Console(out, colour=options.colour, verbose=options.verbose, log_dir=self.log_dir)
        self.watchdog: Watchdog | None = None
        self.monitor: Monitor | None = None
        self.runtime_dir = Path(settings.RUNTIME_DIR)
        self.base_dir = Path(settings.BASE_DIR)
        self.children: list[Child] = []
        self.commands: dict[str, list[str]] = {}  # what each child was started with, to restart it
        self.restarts: dict[str, list[float]] = {}  # monotonic times of each child's recent restarts
        self.stop = StopRequest()
        self.embedded = EmbeddedServices(
            supervisor=self, runtime_dir=self.runtime_dir, var_dir=Path(settings.VAR_DIR), on_change=self.record_services
        )
        self._redis: redis.Redis | None = None
        self.last_step_tail = ""  # the output of the last run_step, for its error message
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.claimed_runtime_dir = False
        self.failed = False
        self.base_url = f"http://{browser_host(options.host)}:{options.port}"
        self.demo = DemoStreamWatch(
            owner_of=lambda: import_string(settings.CHATTER_STREAM_OWNER_READER)(room_slug=DEMO_ROOM_SLUG, client=self.redis())
        )

    # -- lifecycle --

    def run(self) -> int:
        """Start everything, supervise, stop everything. Returns the exit status for the shell."""
        # Everything the runner and its children write (database, logs, keys, the services file
        # with the embedded services' secrets) is for this user only.
        os.umask(0o077)
        self.refuse_if_busy()
        previous_handlers = self.install_signal_handlers()
        try:
            self.claim_runtime_dir()
            # Before any child: should the runner die, even by SIGKILL, it stops their groups.
            self.watchdog = Watchdog(env=self.child_env(), cwd=self.base_dir)
            started = time.monotonic()
            # Chroma starts slowest: spawned first, awaited once Redis and the LLM are up.
            chroma = None if os.environ.get("CHATTER_VECTOR_STORE") else self.embedded.chroma_spawn()
            if not os.environ.get("REDIS_URL"):
                self.embedded.redis_start()
            if not (os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")):
                self.embedded.offline_llm_start()
            if chroma is not None:
                self.embedded.chroma_await(chroma)
            self.prepare_database()
            self.start_app_processes()
            self.wait_until_healthy()
            self.print_banner(seconds=time.monotonic() - started)
            self.monitor = Monitor(
                console=self.console,
                redis_url=self.redis_url(),
                queues=tuple(settings.CELERY_TASK_QUEUES_NAMES),
                status_interval=self.options.status_interval,
            )
            self.monitor.start()
            return self.supervise()
        except _Interrupted:
            return 0
        except ChatterError as exc:
            self.console.error(f"runchatter: {exc.message}")
            self.failed = True
            return 1
        finally:
            try:
                self.shutdown()
            finally:
                for signum, handler in previous_handlers.items():
                    signal.signal(signum, handler)

    def refuse_if_busy(self) -> None:
        """Fail before touching anything: one runner per runtime directory, and a free port."""
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        live = read_services()
        if live:
            raise ChatterError(
                ErrorCode.UNAVAILABLE,
                f"another runchatter is already running from {self.runtime_dir} ({live.get('web_url', 'unknown URL')}); "
                "stop it first, or give this one its own CHATTER_VAR_DIR",
            )
        check_port_free(self.options.host, self.options.port)

    def claim_runtime_dir(self) -> None:
        # Recorded at once (even with an external Redis) so a second runner on this directory
        # refuses: beat must run as a single instance and the metrics dir is shared.
        self.record_services()
        self.claimed_runtime_dir = True
        for directory in (Path(settings.VAR_DIR), self.runtime_dir):  # made by an earlier run, perhaps 0755
            if directory.is_dir() and directory.stat().st_uid == os.getuid():
                directory.chmod(0o700)
        # Left over only if a previous runner was SIGKILLed; it is stale, since nobody else runs here.
        (self.runtime_dir / BEAT_PIDFILE).unlink(missing_ok=True)
        metrics_dir = self.runtime_dir / METRICS_DIRNAME
        shutil.rmtree(metrics_dir, ignore_errors=True)  # old samples from dead pids would skew sums
        metrics_dir.mkdir(parents=True)
        if not settings.PRODUCTION and not os.environ.get("CHATTER_SECRET_KEY"):
            development_secret_key_ensure()  # the children (and later shells) share it from var/

    def install_signal_handlers(self) -> dict[int, signal._HANDLER]:
        previous: dict[int, signal._HANDLER] = {}
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, self.on_signal)
        return previous

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.requested:
            # Second Ctrl-C: the user does not want to wait for a graceful stop.
            self.stop.forced = True
            for child in self.children:
                signal_group(child, signal.SIGKILL)
            return
        self.stop.requested = True
        self.stop.signal_name = signal.Signals(signum).name

    def check_interrupted(self) -> None:
        if self.stop.requested:
            raise _Interrupted

    def sleep(self, seconds: float = POLL_INTERVAL) -> None:
        time.sleep(seconds)
        self.check_interrupted()

    def record_services(self) -> None:
        # write_services replaces the whole file: always write everything known so far.
        write_services({"started_at": self.started_at, "web_url": self.base_url, **self.embedded.addresses.record()})

    def redis_url(self) -> str:
        """The Redis the children use (this process's settings may name none: the runner started it)."""
        return self.embedded.addresses.redis_url or settings.REDIS_URL

    def redis(self) -> redis.Redis:
        if self._redis is None:
            self._redis = redis.Redis.from_url(self.redis_url(), socket_timeout=5, socket_connect_timeout=3)
        return self._redis

    # -- database (in children: they read the embedded services' addresses from their environment) --

    def prepare_database(self) -> None:
        self.console.say(f"database: {describe_database()}; applying migrations")
        status, lines = self.run_step("migrate", migrate_command())
        if status:
            raise ChatterError(ErrorCode.UNAVAILABLE, f"cannot migrate {describe_database()}:\n{self.last_step_tail}")
        applied = sum(1 for line in lines if line.startswith("  Applying "))
        self.console.say(f"database: {applied} migration(s) applied" if applied else "database: up to date")
        status, lines = self.run_step("seed", seed_command())
        if status:
            raise ChatterError(ErrorCode.INVALID, f"the demo seed failed:\n{self.last_step_tail}")
        for line in lines:
            if line.startswith("seeded"):
                self.console.say(line)

    def run_step(self, name: str, argv: list[str]) -> tuple[int, list[str]]:
        """Run a command to its end as a child (Ctrl-C stops it); its exit status and output lines."""
        child = self.spawn(name, argv)
        deadline = time.monotonic() + SETUP_TIMEOUT
        while not child.exited():
            if time.monotonic() > deadline:
                raise ChatterError(ErrorCode.UNAVAILABLE, f"{name} did not finish within {SETUP_TIMEOUT:.0f}s:\n{child.log_tail()}")
            self.sleep()
        if child.reader is not None:
            child.reader.join(timeout=5)  # its last lines
        self.drop(child)
        self.last_step_tail = child.log_tail()
        return child.proc.returncode, list(child.tail)

    # -- app processes --

    def child_env(self) -> dict[str, str]:
        return child_environment(
            base=os.environ, runtime_dir=self.runtime_dir, embedded=self.embedded.addresses, behind_proxy=self.options.daphnes > 1
        )

    def spawn(self, name: str, argv: list[str]) -> Child:
        child = start_child(name=name, argv=argv, env=self.child_env(), cwd=self.base_dir, console=self.console)
        self.children.append(child)
        if self.watchdog is not None:
            self.watchdog.watch(child)
        self.commands[name] = argv
        return child

    def start_web(self) -> None:
        if self.options.daphnes == 1:
            self.spawn("web", daphne_command(host=self.options.host, port=self.options.port))
            return
        executable = haproxy_executable()
        if executable is None:
            raise ChatterError(ErrorCode.UNAVAILABLE, "--daphnes needs HAProxy in front of them: apt-get install haproxy")
        backends = [("127.0.0.1", free_port()) for _ in range(self.options.daphnes)]
        for n, (host, port) in enumerate(backends, start=1):
            self.spawn(f"web{n}", daphne_command(host=host, port=port))
        config = self.runtime_dir / HAPROXY_CONFIG
        config.write_text(haproxy_config(bind=self.options.host, port=self.options.port, backends=backends))
        self.spawn("lb", haproxy_command(executable=executable, config_path=config))

    def drop(self, child: Child) -> None:
        """Forget a child that is dead and reaped (its pid may be reused: the watchdog must forget it too)."""
        self.children.remove(child)
        if self.watchdog is not None:
            self.watchdog.forget(child)

    def start_app_processes(self) -> None:
        self.start_web()
        self.spawn("worker", worker_command(concurrency=self.options.workers))
        self.spawn("beat", beat_command(pidfile=self.runtime_dir / BEAT_PIDFILE))
        if self.options.demo_stream and self.demo_room_exists():
            self.spawn("stream", demo_stream_command(room_slug=DEMO_ROOM_SLUG))

    def first_exited_child(self) -> Child | None:
        return next((child for child in self.children if child.exited()), None)

    def died_message(self, child: Child) -> str:
        log = self.console.log_path(child.name)
        where = f" (full log: {log})" if log is not None else ""
        return (
            f"{child.name} exited unexpectedly ({describe_exit(child.proc.returncode)}); "
            f"its last output{where}:\n{child.log_tail()}"
        )

    def wait_until_healthy(self) -> None:
        url = f"{self.base_url}/healthz"
        deadline = time.monotonic() + self.options.health_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            dead = self.first_exited_child()
            if dead is not None and self.yielded(dead):
                self.demo_yield(dead)
            elif dead is not None:
                raise ChatterError(ErrorCode.UNAVAILABLE, self.died_message(dead))
            status, body = health_status(url)
            if status == 200:
                return
            last = f"HTTP {status}: {body}" if status else body
            self.sleep()
        web = next(child for child in self.children if child.name.startswith("web"))
        raise ChatterError(
            ErrorCode.UNAVAILABLE,
            f"{url} did not answer 200 within {self.options.health_timeout:.0f}s (last: {last}); "
            # The runner's own probes would fill the tail; the last answer above already says it.
            f"web's last output:\n{web.log_tail(without='/healthz')}",
        )

    def supervise(self) -> int:
        while not self.stop.requested:
            dead = self.first_exited_child()
            if dead is not None and self.yielded(dead):
                self.demo_yield(dead)
            elif dead is not None and not self.restart(dead):
                self.console.error(f"runchatter: {self.died_message(dead)}")
                self.failed = True
                return 1
            if self.demo.yielded:
                self.demo_resume_when_idle()
            time.sleep(POLL_INTERVAL)
        return 0

    def yielded(self, child: Child) -> bool:
        return exited_by_yielding(name=child.name, returncode=child.proc.returncode)

    def demo_yield(self, child: Child) -> None:
        """The demo stream stopped for another source on the demo room: not a crash, no restart."""
        if child.reader is not None:
            child.reader.join(timeout=2)
        self.drop(child)
        self.demo.on_yield()
        self.console.event(
            "stream",
            f"the demo stream yielded room '{DEMO_ROOM_SLUG}' to another stream source; it plays again "
            f"once the room has had no source for {RESUME_IDLE_SECONDS:.0f}s",
        )

    def demo_resume_when_idle(self) -> None:
        try:
            due = self.demo.due()
        except Exception as exc:  # Redis briefly away: asked again at the next poll
            self.console.event("stream", f"cannot read the demo room's stream source ({exc!r})", alarm=True)
            return
        if due:
            self.console.event(
                "stream",
                f"room '{DEMO_ROOM_SLUG}' has had no stream source for {RESUME_IDLE_SECONDS:.0f}s; the demo stream plays again",
            )
            self.spawn("stream", self.commands["stream"])

    def restart(self, child: Child) -> bool:
        """Start a dead app process again (see RESTARTABLE). False when it must not be restarted."""
        if child.name.rstrip("0123456789") not in RESTARTABLE:
            return False
        now = time.monotonic()
        recent = [at for at in self.restarts.get(child.name, []) if now - at < RESTART_WINDOW]
        if len(recent) >= RESTART_LIMIT:
            self.console.error(
                f"runchatter: {child.name} died {len(recent) + 1} times within {RESTART_WINDOW / 60:.0f} min; giving up"
            )
            return False
        self.restarts[child.name] = [*recent, now]
        log = self.console.log_path(child.name)
        self.console.event(
            child.name,
            f"exited ({describe_exit(child.proc.returncode)}); restarting {child.name} (restart {len(recent) + 1} "
            f"of at most {RESTART_LIMIT} in {RESTART_WINDOW / 60:.0f} min)" + (f"; its log: {log}" if log else ""),
            alarm=True,
        )
        # A killed Celery worker may leave pool processes behind; they must not run beside the new one.
        signal_group(child, signal.SIGKILL)
        if child.reader is not None:
            child.reader.join(timeout=2)
        self.drop(child)
        if child.name == "beat":
            (self.runtime_dir / BEAT_PIDFILE).unlink(missing_ok=True)  # stale: its beat is dead
        delay = min(RESTART_DELAY_MAX, 0.5 * 2 ** len(recent))  # back off a process that keeps dying
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            self.sleep()
        self.spawn(child.name, self.commands[child.name])
        return True

    # -- output --

    def demo_room_exists(self) -> bool:
        exists = apps.get_model("chat", "Room").objects.filter(slug=DEMO_ROOM_SLUG).exists()
        connections.close_all()  # the runner serves nothing itself; an idle SQLite handle gets in writers' way
        return exists

    def print_banner(self, *, seconds: float) -> None:
        facts = BannerFacts(
            base_url=self.base_url, seconds=seconds, daphnes=self.options.daphnes, workers=self.options.workers,
            verbose=self.options.verbose,
            demo_room_url=f"{self.base_url}/rooms/{DEMO_ROOM_SLUG}/" if self.demo_room_exists() else None,
            embedded=self.embedded.addresses, chroma_dir=self.embedded.chroma_dir, runtime_dir=self.runtime_dir,
            log_dir=self.log_dir, children=tuple(child.name for child in self.children),
        )
        self.console.say("\n".join(banner_lines(facts)))

    # -- shutdown --

    def shutdown(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
        if self.children:
            reason = f" ({self.stop.signal_name})" if self.stop.signal_name else ""
            self.console.say(f"stopping{reason}; press Ctrl-C again to kill at once")
        killed = [child.name for child in reversed(self.children) if not self.stop_child(child)]
        for child in self.children:
            if child.reader is not None:
                child.reader.join(timeout=2)  # let the last lines reach the console
        if self.watchdog is not None:
            self.watchdog.close()  # every child is reaped: nothing left for it to stop
        self.console.close()
        if self._redis is not None:
            self._redis.close()
        self.remove_runtime_files()
        if self.stop.forced:
            self.console.say("killed everything at once (second Ctrl-C)")
        elif killed:
            self.console.say(f"stopped; had to kill: {', '.join(killed)}")
        elif self.children:
            self.console.say("stopped everything that was left" if self.failed else "stopped cleanly")

    def stop_child(self, child: Child) -> bool:
        """SIGTERM the child's group, wait, then SIGKILL. True when it stopped on its own."""
        graceful = True
        if not child.exited():
            signal_group(child, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while not child.exited() and time.monotonic() < deadline and not self.stop.forced:
                time.sleep(0.05)
            if not child.exited():
                graceful = False
                signal_group(child, signal.SIGKILL)
                child.proc.wait()
        # A grandchild (a Celery pool process) may outlive its parent; it must not become an orphan.
        signal_group(child, signal.SIGKILL)
        return graceful

    def remove_runtime_files(self) -> None:
        if not self.claimed_runtime_dir:
            return  # the files belong to another runner (or none were written)
        clear_services()
        (self.runtime_dir / BEAT_PIDFILE).unlink(missing_ok=True)


def run_chatter(*, options: RunOptions, out: Output) -> int:
    return Runner(options=options, out=out).run()

