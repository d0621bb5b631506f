"""The flush after a transactional test (conftest's _flush_survives_a_deadlock) outlives a deadlock
with another process's transaction, as the session's live Celery worker can hold one."""
from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.core.management.color import no_style
from django.db import connection
from django.test import TransactionTestCase
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_flush_is_redone_when_postgresql_aborts_it_for_a_deadlock(test_database_url):
    # The flush empties auth_group before django_session; the other side locks a session row, then the group's.
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    flush = connection.ops.sql_flush(no_style(), tables)
    assert flush.index('DELETE FROM "auth_group";') < flush.index('DELETE FROM "django_session";')
    Group.objects.create(name="deleted first")
    Session.objects.create(session_key="k" * 32, session_data="", expire_date=timezone.now())
    holding, outcome = threading.Event(), {}

    def worker_transaction() -> None:
        with psycopg.connect(test_database_url) as other:
            # This side waits longer before checking for a deadlock, so PostgreSQL aborts the flush.
            other.execute("SET deadlock_timeout = '10s'")
            other.execute("SELECT 1 FROM django_session FOR UPDATE")
            holding.set()
            with psycopg.connect(test_database_url, autocommit=True) as watcher:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND query LIKE 'DELETE FROM %%django_session%%' AND wait_event_type = 'Lock'"
                ).fetchone()[0]:
                    time.sleep(0.02)
            # The flush holds the group's row and waits for the session's: wanting the group closes the circle.
            other.execute("SELECT 1 FROM auth_group FOR UPDATE")
            outcome["other"] = "committed"

    thread = threading.Thread(target=worker_transaction)
    thread.start()
    assert holding.wait(10)
    started = time.monotonic()
    TransactionTestCase(methodName="__init__")._fixture_teardown()  # the flush pytest-django runs after a test
    thread.join(15)

    assert outcome == {"other": "committed"}
    assert time.monotonic() - started >= 0.9  # it met the deadlock (deadlock_timeout is 1 s) and went on
    assert not Group.objects.exists() and not Session.objects.exists()
