"""Fixtures for the local OpenAI-compatible test server (tests/support/llm_server.py).

`llm_server` points this process's settings at the server (OPENAI_BASE_URL, a test key, not offline)
and puts it back in normal mode around each test. For child processes (Daphne, Celery workers),
pass `llm_server_session.base_url` as OPENAI_BASE_URL in their environment: the server lives in the
test process, so `set_mode()` reaches them too.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.llm_server import LLMTestServer

TEST_API_KEY = "sk-test-do-not-leak"


@pytest.fixture(scope="session")
def llm_server_session() -> Iterator[LLMTestServer]:
    server = LLMTestServer().start_in_thread()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def llm_server(llm_server_session: LLMTestServer, settings) -> Iterator[LLMTestServer]:
    from chatter_site.lib.llm import llm_json_formats_forget

    llm_server_session.reset()
    llm_json_formats_forget()  # what one test taught about the server's formats is not the next one's
    settings.OPENAI_BASE_URL = llm_server_session.base_url
    settings.OPENAI_API_KEY = TEST_API_KEY
    settings.LLM_OFFLINE = False
    try:
        yield llm_server_session
    finally:
        llm_server_session.reset()
        llm_json_formats_forget()
