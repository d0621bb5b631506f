"""A Celery worker imports Mem0 and Chroma's client before it forks its pool (memory/mem0_client.py)."""
from __future__ import annotations

import os
import subprocess
import sys

PROBE = (
    "import sys, django; django.setup(); import chatter_site.celery; "
    "from celery.signals import worker_before_create_process; "
    "before = 'mem0' in sys.modules; worker_before_create_process.send(sender=None); "
    "print(before, 'mem0' in sys.modules, 'chromadb' in sys.modules)"
)


def test_it_imports_mem0_in_the_worker_before_the_pool_forks() -> None:
    # A fresh interpreter: what the worker's parent has after Django's setup, then at the signal the
    # prefork pool sends before each fork. Children then share those pages instead of each growing by
    # them on its first memory job.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatter_site.settings"}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "True", "True"], (done.stdout, done.stderr[-2000:])
