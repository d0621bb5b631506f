"""A child process for benchmarks: its own session (stopping it stops its children), a log file;
and the local services benchmarks start as children: a free loopback port, moto's S3 server, a
throwaway PostgreSQL cluster and a redis-server of their own (which a bench may stop and start)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_BIN_ENV = "CHATTER_PG_BIN"  # the directory of initdb and pg_ctl, when not the newest Debian one


class Child:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_for_log(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            if needle in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        self._log.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto(log_dir: Path, *, access_key: str, secret_key: str) -> tuple[Child, str]:
    """moto's S3 server on a free loopback port; returns it and its URL once it answers."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    child = Child("moto", ["moto_server", "-H", "127.0.0.1", "-p", str(port)], env, log_dir)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            return child, url
        except urllib.error.HTTPError:
            return child, url
        except OSError:
            if child.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited:\n{child.log_tail()}") from None
            time.sleep(0.1)
    child.stop()
    raise RuntimeError("moto_server did not start")


def postgres_bin_dir() -> Path:
    """$CHATTER_PG_BIN, else the newest /usr/lib/postgresql/<version>/bin, else initdb's directory on PATH."""
    if os.environ.get(PG_BIN_ENV):
        return Path(os.environ[PG_BIN_ENV])
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0)
    if debian:
        return debian[-1].parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError(f"no initdb found: install PostgreSQL's server binaries or set {PG_BIN_ENV}")


def as_postgres_user(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; the machine's `postgres` account runs the throwaway cluster."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class PostgresCluster:
    """A throwaway cluster: initdb into a temp dir, pg_ctl on a free port, trust auth, loopback only."""

    def __init__(self) -> None:
        self.bin_dir = postgres_bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="soak-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/chatter"
        self.started = False

    def _run(self, *argv: str, timeout: float = 60) -> None:
        done = subprocess.run(as_postgres_user([str(self.bin_dir / argv[0]), *argv[1:]]), capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE chatter")

    def start(self) -> None:
        # fsync off: a throwaway cluster on a shared disk; a fast shutdown still checkpoints cleanly.
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-w", "-t", "60", "-o", options, "start", timeout=90)
        self.started = True

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", timeout=90)
        self.started = False

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def remove(self) -> None:
        if self.started:
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"postgres did not stop: {exc}", file=sys.stderr)
        shutil.rmtree(self.dir, ignore_errors=True)


def redis_server_executable() -> str:
    if os.access("/usr/bin/redis-server", os.X_OK):
        return "/usr/bin/redis-server"
    from chatter_site.lib.runner.embedded import redis_executable  # needs no Django settings

    return redis_executable()


class RedisServer:
    """A redis-server of the bench's own on a free port, with AOF so a restart keeps the broker's queues."""

    def __init__(self, work: Path, log_dir: Path) -> None:
        self.dir = work / "redis"
        self.dir.mkdir()
        self.log_dir = log_dir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.child: Child | None = None
        self.generation = 0

    def start(self) -> None:
        self.generation += 1
        argv = [
            redis_server_executable(), "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
            "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--daemonize", "no",
        ]
        self.child = Child(f"redis-{self.generation}", argv, {**os.environ}, self.log_dir)
        self.child.wait_for_log("Ready to accept connections", timeout=30)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()  # SIGTERM: redis writes its AOF and exits
