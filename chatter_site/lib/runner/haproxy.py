"""HAProxy in front of several Daphne processes (`runchatter --daphnes N`, bench/gateway_fanout.py).

Each Daphne process feeds its own sockets from one subscription per room (chat.hub), so viewers and
senders can land on any of them: no stickiness is needed, and `leastconn` keeps the socket counts
even as long-lived WebSockets come and go. docs/haproxy.cfg is this config written out by hand.
"""
from __future__ import annotations

import resource
import shutil
from pathlib import Path

# WebSockets live for hours: the tunnel timeout is what applies once upgraded; HAProxy's health
# checks keep a dead Daphne out of the rotation until it answers /healthz again.
CONFIG_TEMPLATE = """\
global
    maxconn {maxconn}
    nbthread {threads}

defaults
    mode http
    option forwardfor
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 2h
    timeout http-request 10s

frontend chatter
    bind {bind}:{port}
    # Daphne sees every client as the proxy's loopback address: /metrics (open to loopback) must
    # only answer clients that really are local.
    http-request deny deny_status 403 if {{ path_beg /metrics }} !{{ src 127.0.0.0/8 ::1 }}
    default_backend daphnes

backend daphnes
    balance leastconn
    option httpchk GET /healthz
    http-check expect status 200
{servers}
"""


def haproxy_executable() -> str | None:
    return shutil.which("haproxy") or next(
        (str(path) for path in (Path("/usr/sbin/haproxy"), Path("/usr/local/sbin/haproxy")) if path.exists()), None
    )


def haproxy_maxconn(wanted: int = 20000) -> int:
    """HAProxy needs two descriptors per proxied connection and refuses to start when the hard
    limit cannot hold `maxconn` of them."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return wanted
    return max(256, min(wanted, (hard - 100) // 2))


def haproxy_config(*, bind: str, port: int, backends: list[tuple[str, int]], maxconn: int | None = None, threads: int = 1) -> str:
    maxconn = maxconn or haproxy_maxconn()
    servers = "\n".join(
        f"    server daphne{n} {host}:{backend_port} check inter 2s fall 2 rise 1"
        for n, (host, backend_port) in enumerate(backends, start=1)
    )
    return CONFIG_TEMPLATE.format(maxconn=maxconn, threads=threads, bind=bind, port=port, servers=servers)


def haproxy_command(*, executable: str, config_path: Path) -> list[str]:
    # -db: stay in the foreground (the runner supervises it; the bench stops it); -W would fork a master.
    return [executable, "-db", "-f", str(config_path)]
