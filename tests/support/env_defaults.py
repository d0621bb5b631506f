"""Loaded with `-p` (pytest.ini) before pytest-django reads settings: the suite's service defaults.

Tests always talk to real PostgreSQL and real Redis; without this, an unset DATABASE_URL would
quietly give an in-memory SQLite.
"""
import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CHATTER_DB_CONN_MAX_AGE", "0")  # lets the test database be dropped at the end
