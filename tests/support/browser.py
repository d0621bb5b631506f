"""The headless Chromium every browser test uses (a pytest plugin, see tests/conftest.py)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAGE_TIMEOUT_MS = 30_000  # a deadline for a loaded 2-core machine: a passing wait returns at once


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


@pytest.fixture
def new_page(browser: Browser) -> Iterator:
    """Pages in separate browser contexts (separate cookies), closed after the test.

    An uncaught error in the page's script fails the test even when the assertions passed.
    """
    contexts = []
    script_errors: list[str] = []

    def open_page() -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: script_errors.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not script_errors, f"uncaught errors in the page: {script_errors}"
