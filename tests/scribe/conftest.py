"""Fixtures of the scribe tests: the test LLM's scribe answers, dedicated workers, S3 (moto)."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.scribe.scribe_llm import scribe_document_answer
from tests.support.llm_server import LLMTestServer
from tests.support.processes import ManagedProcess, start_celery_worker

# S3 fixtures (moto server mode); registered here rather than in the root conftest's plugin list.
from tests.support.s3 import s3_documents, s3_server, s3_server_session  # noqa: F401

WORKER_START_TIMEOUT = 40.0


@pytest.fixture(autouse=True)
def documents_on_disk(process_env, settings) -> Path:
    """Versions go where the test's child processes (workers, Daphne) put them: their var dir."""
    location = Path(process_env["CHATTER_VAR_DIR"]) / "media" / "documents"
    settings.STORAGES = {
        **settings.STORAGES,
        "documents": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(location)}},
    }
    return location


@pytest.fixture(autouse=True)
def scribe_llm(llm_server_session: LLMTestServer) -> Iterator[LLMTestServer]:
    """The test server answers scribe prompts with scribe_document_answer (scripts still come first)."""
    server = llm_server_session

    def scripted(path: str, body: dict) -> str | None:
        canned = LLMTestServer.scripted_content(server, path, body)
        return canned if canned is not None else scribe_document_answer(body)

    server.scripted_content = scripted
    yield server
    del server.scripted_content


def _scribe_consumers(exclude: str | None = None) -> list[str]:
    from chatter_site.celery import app

    # A worker busy on a loaded machine can miss one 1 s window; then it would go on taking the
    # updates under test. Asked again while nobody answered (in a full run the session's worker is up,
    # so the first answer ends this at once).
    replies: dict = {}
    for _ in range(3):
        replies = app.control.inspect(timeout=1.0).active_queues() or {}
        if replies:
            break
    return [
        name for name, queues in replies.items()
        if name != exclude and any(queue.get("name") == "scribe" for queue in queues or [])
    ]


def wait_worker_ready(worker: ManagedProcess, timeout: float = WORKER_START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            raise RuntimeError(f"worker exited:\n{worker.log_tail()}")
        if " ready." in worker.log_tail(200):
            return
        time.sleep(0.1)
    raise RuntimeError(f"worker did not become ready:\n{worker.log_tail()}")


@pytest.fixture
def scribe_workers(process_env, log_dir) -> Iterator[Callable[..., ManagedProcess]]:
    """Start dedicated workers on the "scribe" queue with extra environment (`start(**env)`).

    Any other worker consuming "scribe" (the session's `celery_worker`) stops consuming it for the
    test, so the updates under test run where the test can see (and kill) them.
    """
    from chatter_site.celery import app

    paused = _scribe_consumers()
    if paused:
        app.control.cancel_consumer("scribe", destination=paused, reply=True, timeout=3.0)
    started: list[ManagedProcess] = []

    def start(**env: str) -> ManagedProcess:
        name = f"scribe-{uuid.uuid4().hex[:8]}"
        worker = start_celery_worker({**process_env, **env}, log_dir, queues="scribe", name=name, concurrency=2)
        started.append(worker)
        wait_worker_ready(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()
        if paused:
            app.control.add_consumer("scribe", destination=paused, reply=True, timeout=3.0)
