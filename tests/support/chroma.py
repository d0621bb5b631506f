"""A real Chroma server for tests (Mem0's vector store), started once per session.

`chroma_server` points this process's settings at it (MEMORY_VECTOR_STORE_URL), gives each test a
collection and a Mem0 history directory of its own, and drops the store's cached Mem0 before and
after, so tests never see each other's memories. Mem0 also needs an embedder: request `llm_server`
too (its /v1/embeddings answers, and records, Mem0's embedding calls).
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatter_site.lib.runner import chroma_answers, chroma_command
from tests.support.processes import ManagedProcess, child_env, free_port

START_TIMEOUT = 120.0  # a deadline: a server that answers is used at once (imports take long under load)


@dataclass(frozen=True)
class ChromaServer:
    host: str
    port: int
    path: Path
    collection: str = ""

    @property
    def url(self) -> str:
        return f"chroma://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """For child processes (Celery workers, Daphne): the same server and collection."""
        return {"CHATTER_VECTOR_STORE": self.url, **({"CHATTER_MEMORY_COLLECTION": self.collection} if self.collection else {})}


@pytest.fixture(scope="session")
def chroma_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    base = tmp_path_factory.mktemp("chroma")
    port = free_port()
    process = ManagedProcess(
        f"chroma-{port}", chroma_command(host="127.0.0.1", port=port, path=base / "data"), child_env(), base
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not chroma_answers("127.0.0.1", port):
            if process.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the test Chroma server did not start:\n{process.log_tail()}")
            time.sleep(0.1)
        yield ChromaServer(host="127.0.0.1", port=port, path=base / "data")
    finally:
        process.stop()


@pytest.fixture
def chroma_server(chroma_server_session: ChromaServer, settings, tmp_path: Path) -> Iterator[ChromaServer]:
    from memory.mem0_client import store_reset

    server = ChromaServer(
        host=chroma_server_session.host,
        port=chroma_server_session.port,
        path=chroma_server_session.path,
        collection=f"test_{uuid.uuid4().hex[:12]}",
    )
    settings.MEMORY_VECTOR_STORE_URL = server.url
    settings.MEMORY_COLLECTION = server.collection
    settings.MEMORY_DIR = tmp_path / "mem0"
    store_reset()
    try:
        yield server
    finally:
        store_reset()
