"""A Celery worker freezes its heap right before it forks a pool child (chatter_site/celery.py)."""
from __future__ import annotations

import os
import subprocess
import sys

# A fresh interpreter holding what a worker's parent holds (Django, the apps, Mem0 imported at the
# signal the pool sends before each fork), then a fork like the pool's. The child makes objects that
# live through a few young collections, as a task's do, and then become cyclic garbage, as a failed
# task's exceptions, tracebacks and frames do; it reports what the collector freed on its own.
MADE, LIVE = 100_000, 8_000
PROBE = f"""
import collections, gc, os, sys, warnings
import django
django.setup()
import chatter_site.celery
from celery.signals import worker_before_create_process, worker_init
warnings.simplefilter("ignore")  # Celery's Django fixup expects a real worker as the sender
if sys.argv[1] == "worker":
    worker_init.send(sender=None)
worker_before_create_process.send(sender=None)
freed = [0]

class Node:
    def __init__(self):
        self.me = self

    def __del__(self):
        freed[0] += 1

read, write = os.pipe()
pid = os.fork()
if pid == 0:
    own = len(gc.get_objects())
    window = collections.deque(maxlen={LIVE})
    for _ in range({MADE}):
        window.append(Node())
    os.write(write, f"{{gc.get_freeze_count()}} {{own}} {{freed[0]}}".encode())
    os._exit(0)
os.waitpid(pid, 0)
print(os.read(read, 100).decode())
"""


def _child(mode: str) -> tuple[int, int, int]:
    """(objects frozen, objects the child's collector scans at birth, garbage it left waiting)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatter_site.settings"}
    done = subprocess.run([sys.executable, "-c", PROBE, mode], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    frozen, own, freed = (int(value) for value in done.stdout.split())
    return frozen, own, MADE - LIVE - freed


def test_it_freezes_the_inherited_heap_so_a_pool_child_never_scans_it() -> None:
    frozen, own, _waiting = _child("worker")
    assert frozen > 100_000 and own < 1_000, (frozen, own)


def test_it_collects_a_pool_child_s_cyclic_garbage_sooner_than_an_unfrozen_child() -> None:
    # Unfrozen, the child's full collection waits until a quarter of the inherited heap has been
    # promoted (what let a pool child reach +35 % RSS during the soak's drills).
    _frozen, _own, waiting = _child("worker")
    _none, plain_own, plain_waiting = _child("plain")
    assert plain_own > 100_000 and waiting * 2 < plain_waiting, (waiting, plain_waiting)
