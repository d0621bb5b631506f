"""The headless Chromium every browser test uses (a pytest plugin, see tests/conftest.py)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, for one test module.

    Playwright's sync API keeps an event loop marked as running on this thread, which makes Django
    refuse ORM calls (the test's own and the database flush after it); nothing runs inside that loop.
    So ORM calls are allowed for as long as Playwright runs: the flush comes after function-scoped
    fixtures are gone.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (CI installs it); browser tests need a system Chromium")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
