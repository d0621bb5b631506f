"""The runner itself: options, start-up order, supervision and shutdown (see the package docstring)."""
from __future__ import annotations

import io
import os
import secrets
import shutil
import signal
import sys
import time
import traceback
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connections
from django.utils.module_loading import import_string

from chatter_site.lib.errors import ChatterError
from chatter_site.lib.offline_llm.server import CONTROL_TOKEN_ENV
from chatter_site.lib.runner.children import Child, Watchdog, describe_exit, signal_group, start_child
from chatter_site.lib.runner.console import Console, Output
from chatter_site.lib.runner.haproxy import haproxy_command, haproxy_config, haproxy_executable
from chatter_site.lib.runner.embedded import (
    adopt_redis_url,
    browser_host,
    check_port_free,
    chroma_answers,
    chroma_command,
    free_port,
    health_status,
    redis_answers,
    redis_executable,
)
from chatter_site.lib.runner.demo_stream import RESUME_IDLE_SECONDS, DemoStreamWatch, exited_by_yielding
from chatter_site.lib.runner.monitor import Monitor
from chatter_site.lib.runtime import clear_services, read_services, write_services

# Deadlines for events, not expected durations: a loaded 2-core machine took over 30 s once.
HEALTH_TIMEOUT = 90.0
REDIS_START_TIMEOUT = 30.0
LLM_START_TIMEOUT = 30.0
CHROMA_START_TIMEOUT = 60.0
OFFLINE_LLM_API_KEY = "offline"  # the provider ignores keys; the openai client insists on one
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.2
BEAT_PIDFILE = "celerybeat.pid"
METRICS_DIRNAME = "metrics"
REDIS_DIRNAME = "redis"
LOG_DIRNAME = "log"  # under VAR_DIR: each child's full output, var/log/<child>.log
CHROMA_DIRNAME = "chroma"  # under VAR_DIR, not the runtime dir: memories outlive a run
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
        self.redis_url: str | None = None
        self.llm_base_url: str | None = None
        self.llm_control_token: str | None = None
        self.chroma_url: str | None = None  # set once it answers
        self.chroma_port = 0
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.claimed_runtime_dir = False
        self.failed = False
        self.base_url = f"http://{browser_host(options.host)}:{options.port}"
        self.demo = DemoStreamWatch(
            owner_of=lambda: import_string(settings.CHATTER_STREAM_OWNER_READER)(room_slug=DEMO_ROOM_SLUG)
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
            chroma = None if os.environ.get("CHATTER_VECTOR_STORE") else self.spawn_embedded_chroma()
            if not os.environ.get("REDIS_URL"):
                self.start_embedded_redis()
            if not (os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")):
                self.start_offline_llm()
            if chroma is not None:
                self.await_embedded_chroma(chroma)
            self.prepare_database()
            self.start_app_processes()
            self.wait_until_healthy()
            self.print_banner(seconds=time.monotonic() - started)
            self.monitor = Monitor(
                console=self.console,
                redis_url=settings.REDIS_URL,
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
                "unavailable",
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

    def install_signal_handlers(self) -> dict[int, object]:
        previous: dict[int, object] = {}
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

    # -- embedded Redis --

    def start_embedded_redis(self) -> None:
        executable = redis_executable()
        data_dir = self.runtime_dir / REDIS_DIRNAME
        data_dir.mkdir(parents=True, exist_ok=True)
        # Any local process can reach 127.0.0.1: a random password (in a 0600 config file, never on
        # the command line where `ps` shows it) keeps other users off the chat's Redis.
        password = secrets.token_urlsafe(24)
        config = data_dir / "redis.conf"
        config.unlink(missing_ok=True)
        descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"requirepass {password}\n")
        # The free port is picked before redis binds it; if something grabs it first, try another.
        for attempt in range(3):
            port = free_port()
            child = self.spawn(
                "redis",
                [
                    executable, str(config), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir),
                    "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
                    # Redis would otherwise overwrite its argv and environment with a short title;
                    # kept, `ps` shows which checkout's runtime dir this Redis belongs to.
                    "--set-proc-title", "no",
                ],
            )
            url = f"redis://:{password}@127.0.0.1:{port}/0"
            if self.wait_for_redis(child, url):
                break
            self.drop(child)
            if attempt == 2:
                raise ChatterError("unavailable", f"the embedded Redis did not start:\n{child.log_tail()}")
        self.redis_url = url
        self.record_services()
        adopt_redis_url(url)

    def wait_for_redis(self, child: Child, url: str) -> bool:
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        while time.monotonic() < deadline:
            if child.exited():
                return False
            if redis_answers(url):
                return True
            self.sleep(0.05)
        signal_group(child, signal.SIGKILL)
        child.proc.wait()
        return False

    def record_services(self) -> None:
        # write_services replaces the whole file: always write everything known so far.
        services = {"started_at": self.started_at, "web_url": self.base_url}
        if self.redis_url:
            services["redis_url"] = self.redis_url
        if self.llm_base_url:
            services["openai_base_url"] = self.llm_base_url
            services["llm_control_token"] = self.llm_control_token
        if self.chroma_url:
            services["chroma_url"] = self.chroma_url
        write_services(services)

    # -- offline LLM provider --

    def start_offline_llm(self) -> None:
        # POST /__control changes every answer: only holders of services.json (0600) may use it.
        self.llm_control_token = secrets.token_urlsafe(24)
        for attempt in range(3):
            port = free_port()
            child = self.spawn(
                "llm", [sys.executable, "-m", "chatter_site.lib.offline_llm", "--host", "127.0.0.1", "--port", str(port)]
            )
            url = f"http://127.0.0.1:{port}/v1"
            if self.wait_for_llm(child, url):
                break
            self.drop(child)
            if attempt == 2:
                raise ChatterError("unavailable", f"the offline LLM provider did not start:\n{child.log_tail()}")
        self.llm_base_url = url
        self.record_services()

    def wait_for_llm(self, child: Child, url: str) -> bool:
        deadline = time.monotonic() + LLM_START_TIMEOUT
        while time.monotonic() < deadline:
            if child.exited():
                return False
            if health_status(f"{url}/models")[0] == 200:
                return True
            self.sleep(0.05)
        signal_group(child, signal.SIGKILL)
        child.proc.wait()
        return False

    # -- Chroma server (Mem0's vector store, shared by Daphne and every worker) --

    def spawn_embedded_chroma(self) -> Child:
        data_dir = Path(settings.VAR_DIR) / CHROMA_DIRNAME
        data_dir.mkdir(parents=True, exist_ok=True)
        self.chroma_port = free_port()
        return self.spawn("chroma", chroma_command(host="127.0.0.1", port=self.chroma_port, path=data_dir))

    def await_embedded_chroma(self, child: Child) -> None:
        # The free port was picked before chroma bound it; if something grabbed it first, try another.
        for attempt in range(3):
            if self.wait_for_chroma(child, self.chroma_port):
                break
            self.drop(child)
            if attempt == 2:
                raise ChatterError("unavailable", f"the Chroma server did not start:\n{child.log_tail()}")
            child = self.spawn_embedded_chroma()
        self.chroma_url = f"chroma://127.0.0.1:{self.chroma_port}"
        self.record_services()
        settings.MEMORY_VECTOR_STORE_URL = self.chroma_url  # for what runs here (seeders)

    def wait_for_chroma(self, child: Child, port: int) -> bool:
        deadline = time.monotonic() + CHROMA_START_TIMEOUT
        while time.monotonic() < deadline:
            if child.exited():
                return False
            if chroma_answers("127.0.0.1", port):
                return True
            self.sleep(0.1)
        signal_group(child, signal.SIGKILL)
        child.proc.wait()
        return False

    # -- database --

    def prepare_database(self) -> None:
        self.console.say(f"database: {self.describe_database()}; applying migrations")
        report = io.StringIO()
        try:
            call_command("migrate", interactive=False, verbosity=1, stdout=report)
        except DatabaseError as exc:
            raise ChatterError("unavailable", f"cannot migrate {self.describe_database()}: {exc}") from exc
        applied = report.getvalue().count("  Applying ")
        self.console.say(f"database: {applied} migration(s) applied" if applied else "database: up to date")
        self.check_interrupted()
        self.seed_if_empty()
        # The runner serves nothing itself; an idle SQLite handle here only gets in writers' way.
        connections.close_all()

    def seed_if_empty(self) -> None:
        # "Empty" means no chat room at all: the rooms are what a visitor sees first.
        Room = apps.get_model("chat", "Room")
        if Room.objects.exists():
            return
        for dotted in settings.CHATTER_DEMO_SEEDERS:
            try:
                result = import_string(dotted)()
            except Exception as exc:  # a broken seeder must say which one, not a bare traceback
                self.console.say(traceback.format_exc().rstrip())
                raise ChatterError("invalid", f"demo seeder {dotted} failed: {exc!r}") from exc
            self.console.say(f"seeded: {dotted}" + (f" ({result})" if result else ""))
        slugs = ", ".join(Room.objects.order_by("slug").values_list("slug", flat=True)) or "none"
        self.console.say(f"seeded an empty database; rooms: {slugs}")

    # -- app processes --

    def child_env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",  # children's lines must reach the console as they happen
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "chatter_site.settings"),
            "PROMETHEUS_MULTIPROC_DIR": str(self.runtime_dir / METRICS_DIRNAME),
        }
        if self.redis_url:
            # Explicit, so a child never depends on reading services.json at the right moment.
            env["REDIS_URL"] = self.redis_url
        if self.llm_base_url:
            env["OPENAI_BASE_URL"] = self.llm_base_url
            env["OPENAI_API_KEY"] = OFFLINE_LLM_API_KEY
        if self.llm_control_token:
            env[CONTROL_TOKEN_ENV] = self.llm_control_token
        if self.chroma_url:
            env["CHATTER_VECTOR_STORE"] = self.chroma_url
        if self.options.daphnes > 1 and not env.get("CHATTER_TRUSTED_PROXIES"):
            # Every socket arrives from the local HAProxy: count clients by its X-Forwarded-For.
            env["CHATTER_TRUSTED_PROXIES"] = "127.0.0.1/32,::1/128"
        return env

    def spawn(self, name: str, argv: list[str]) -> Child:
        child = start_child(name=name, argv=argv, env=self.child_env(), cwd=self.base_dir, console=self.console)
        self.children.append(child)
        if self.watchdog is not None:
            self.watchdog.watch(child)
        self.commands[name] = argv
        return child

    def daphne_command(self, *, host: str, port: int) -> list[str]:
        return [
            sys.executable, "-m", "daphne", "-b", host, "-p", str(port),
            "--websocket-max-message-size", str(settings.CHAT_TRANSPORT_MAX_BYTES),
            # No --proxy-headers: Daphne would believe any client's X-Forwarded-For, and the
            # loopback-only /metrics check trusts the client address.
            "chatter_site.asgi:application",
        ]

    def start_web(self) -> None:
        if self.options.daphnes == 1:
            self.spawn("web", self.daphne_command(host=self.options.host, port=self.options.port))
            return
        executable = haproxy_executable()
        if executable is None:
            raise ChatterError("unavailable", "--daphnes needs HAProxy in front of them: apt-get install haproxy")
        backends = [("127.0.0.1", free_port()) for _ in range(self.options.daphnes)]
        for n, (host, port) in enumerate(backends, start=1):
            self.spawn(f"web{n}", self.daphne_command(host=host, port=port))
        config = self.runtime_dir / HAPROXY_CONFIG
        config.write_text(haproxy_config(bind=self.options.host, port=self.options.port, backends=backends))
        self.spawn("lb", haproxy_command(executable=executable, config_path=config))

    def drop(self, child: Child) -> None:
        """Forget a child that is dead and reaped (its pid may be reused: the watchdog must forget it too)."""
        self.children.remove(child)
        if self.watchdog is not None:
            self.watchdog.forget(child)

    def start_app_processes(self) -> None:
        python = sys.executable
        queues = ",".join(settings.CELERY_TASK_QUEUES_NAMES)
        self.start_web()
        self.spawn(
            "worker",
            [
                python, "-m", "celery", "-A", "chatter_site", "worker", "-Q", queues,
                "-c", str(self.options.workers), "-l", "INFO", "--without-mingle", "--without-gossip",
            ],
        )
        self.spawn(
            "beat",
            [
                python, "-m", "celery", "-A", "chatter_site", "beat", "-l", "INFO",
                "-s", str(settings.CELERY_BEAT_SCHEDULE_FILENAME),
                "--pidfile", str(self.runtime_dir / BEAT_PIDFILE),
            ],
        )
        if self.options.demo_stream and self.demo_room_exists():
            # The embedded stream default: a scripted source, through the same pipeline as audio.
            self.spawn(
                "stream",
                [
                    python, "manage.py", "run_stream_context", "--room", DEMO_ROOM_SLUG,
                    "--script", str(settings.STREAMCTX_DEMO_SCRIPT), "--loop", "--if-free",
                ],
            )

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
                raise ChatterError("unavailable", self.died_message(dead))
            status, body = health_status(url)
            if status == 200:
                return
            last = f"HTTP {status}: {body}" if status else body
            self.sleep()
        web = next(child for child in self.children if child.name.startswith("web"))
        raise ChatterError(
            "unavailable",
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

    def describe_database(self) -> str:
        database = settings.DATABASES["default"]
        if database["ENGINE"].endswith("sqlite3"):
            return f"SQLite at {database['NAME']}"
        return "PostgreSQL" if "postgres" in database["ENGINE"] else database["ENGINE"]

    def describe_storage(self) -> str:
        if settings.CHATTER_S3_BUCKET:
            return f"S3 bucket {settings.CHATTER_S3_BUCKET}"
        location = settings.STORAGES["documents"].get("OPTIONS", {}).get("location", settings.MEDIA_ROOT)
        return f"filesystem at {location}"

    def demo_room_exists(self) -> bool:
        exists = apps.get_model("chat", "Room").objects.filter(slug=DEMO_ROOM_SLUG).exists()
        connections.close_all()
        return exists

    def describe_llm(self) -> str:
        if self.llm_base_url:
            return f"offline provider at {self.llm_base_url}"
        base_url = os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        host = urllib.parse.urlparse(base_url).netloc or base_url
        return f"OpenAI-compatible endpoint {host} (model {settings.CHATTER_LLM_MODEL})"

    def describe_memory(self) -> str:
        if self.chroma_url:
            return f"Chroma server at {self.chroma_url} (data in {Path(settings.VAR_DIR) / CHROMA_DIRNAME})"
        scheme = urllib.parse.urlparse(os.environ.get("CHATTER_VECTOR_STORE", "")).scheme or "unknown"
        return f"external vector store (CHATTER_VECTOR_STORE, {scheme})"

    def describe_processes(self) -> str:
        names = {"web": "web (Daphne)", "worker": f"worker (Celery, {self.options.workers} processes)", "beat": "beat",
                 "stream": "stream (the demo room's scripted stream)", "redis": "redis", "llm": "llm (offline)", "chroma": "chroma", "lb": "lb (HAProxy)"}
        return ", ".join(
            names.get(child.name) or (f"{child.name} (Daphne)" if child.name.startswith("web") else child.name)
            for child in self.children
        )

    def print_banner(self, *, seconds: float) -> None:
        redis = f"embedded at {redis_url_redacted(self.redis_url)}" if self.redis_url else "external Redis (REDIS_URL)"
        lines = [
            "",
            f"  chatter is running (healthy after {seconds:.1f}s)",
            "",
            f"    chat        {self.base_url}/",
        ]
        if self.options.daphnes > 1:
            lines.append(f"    web         {self.options.daphnes} Daphne processes behind HAProxy")
        if self.demo_room_exists():
            lines.append(f"    demo room   {self.base_url}/rooms/{DEMO_ROOM_SLUG}/")
        lines += [
            f"    admin       {self.base_url}/admin/   (first login: python manage.py createsuperuser)",
            "",
            f"    database    {self.describe_database()}",
            f"    redis       {redis}",
            f"    llm         {self.describe_llm()}",
            f"    memory      {self.describe_memory()}",
            f"    storage     {self.describe_storage()}",
            f"    runtime     {self.runtime_dir}",
            "",
            f"    running     {self.describe_processes()}",
            f"    logs        {self.log_dir}/<name>.log"
            + ("" if self.options.verbose else "   (--verbose shows them here too)"),
            "",
            "  Below: one line per notable event and a status line a minute. Press Ctrl-C to stop.",
            "",
        ]
        self.console.say("\n".join(lines))

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


def redis_url_redacted(url: str) -> str:
    """The URL without its password, for the console."""
    parsed = urllib.parse.urlsplit(url)
    if not parsed.password:
        return url
    netloc = f":***@{parsed.hostname}:{parsed.port}" if parsed.port else f":***@{parsed.hostname}"
    return urllib.parse.urlunsplit(parsed._replace(netloc=netloc))
