"""Shared fixtures. Tests run against real PostgreSQL and real Redis (see README)."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis as redis_lib

from tests.support.processes import child_env, start_celery_worker, start_daphne

pytest_plugins = ["tests.support.browser", "tests.support.fixtures_llm", "tests.support.chroma"]


@pytest.fixture(scope="session", autouse=True)
def _fresh_redis() -> None:
    """One clean Redis database per run; tests never share state with a previous run."""
    redis_lib.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


@pytest.fixture(scope="session", autouse=True)
def _flush_by_delete() -> Iterator[None]:
    """Transactional tests end with DELETEs, not a TRUNCATE (tests/support/flush.py says why)."""
    from tests.support.flush import flush_by_delete

    with flush_by_delete():
        yield


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """Users are made and signed in hundreds of times; tests/support/fast_hashing.py says why."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["tests.support.fast_hashing.OneRoundPBKDF2PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def _flush_survives_a_deadlock() -> Iterator[None]:
    """A transactional test's flush (it empties every table) can deadlock with the session's live
    Celery worker still finishing a task the test enqueued; PostgreSQL aborts one side, so the flush
    is tried again once the worker's transaction is gone."""
    from django.db import OperationalError
    from django.test import TransactionTestCase

    original = TransactionTestCase._fixture_teardown

    def teardown(self) -> None:
        for attempt in range(5):
            try:
                return original(self)
            except Exception as error:
                if attempt == 4 or not (isinstance(error.__cause__, OperationalError) and "deadlock" in str(error.__cause__)):
                    raise
                time.sleep(0.2 * (attempt + 1))

    TransactionTestCase._fixture_teardown = teardown  # type: ignore[method-assign]
    yield
    TransactionTestCase._fixture_teardown = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _reset_limits() -> None:
    """Rate-limit windows are keyed by user id; ids repeat across tests, windows must not."""
    client = redis_lib.Redis.from_url(os.environ["REDIS_URL"])
    for pattern in ("chatter:rl:*", "chatter:slow:*"):
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)
    from chat.selectors import blocked_rules_invalidate

    blocked_rules_invalidate()


@pytest.fixture(scope="session")
def test_database_url(django_db_setup, django_db_blocker) -> str:
    """A URL for the test database, so child processes (Daphne, workers) use it too."""
    from django.db import connection

    settings_dict = connection.settings_dict
    user = quote(settings_dict.get("USER") or "")
    password = quote(settings_dict.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


@pytest.fixture(scope="session")
def process_env(test_database_url, tmp_path_factory, llm_server_session, chroma_server_session) -> dict[str, str]:
    from django.conf import settings

    from tests.support.fixtures_llm import TEST_API_KEY

    var_dir = tmp_path_factory.mktemp("var")
    return child_env(
        CHATTER_SECRET_KEY=settings.SECRET_KEY,  # sessions made here must be valid there
        DATABASE_URL=test_database_url,
        REDIS_URL=os.environ["REDIS_URL"],
        CHATTER_VAR_DIR=str(var_dir),
        CHATTER_ALLOWED_HOSTS="localhost,127.0.0.1",
        # Child processes talk to the test process's OpenAI-compatible server.
        OPENAI_BASE_URL=llm_server_session.base_url,
        OPENAI_API_KEY=TEST_API_KEY,
        CHATTER_VECTOR_STORE=chroma_server_session.url,
    )


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def live_daphne(process_env, log_dir):
    """A real Daphne serving the app on a free port, on the test database and test Redis."""
    process, base_url = start_daphne(process_env, log_dir)
    yield base_url
    process.stop()


@pytest.fixture(scope="session")
def celery_worker(process_env, log_dir):
    """A real Celery worker consuming every queue."""
    worker = start_celery_worker(process_env, log_dir, queues="default,llm,reflection,scribe", name="tests")
    yield worker
    worker.stop()
