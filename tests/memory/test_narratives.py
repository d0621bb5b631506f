"""Cached narratives (SPEC 6.4): the fast path, deduplicated regeneration, staleness, the HTTP API,
the pages, backfill and the weekly refresh."""
from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import redis as redis_lib
from django.contrib.admin.sites import AdminSite
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import RequestFactory
from django.urls import NoReverseMatch, include, path, reverse
from django.utils import timezone

from chat.models import Message
from chat.services import draft_parse, human_draft, message_ingest
from chatter_site.jobs.models import Job
from memory import enqueue
from memory.admin.narratives import NarrativeAdmin
from memory.models import MemoryItem, Narrative
from memory.services.narratives import (
    backfill as narrative_backfill,
    narrative_cache_put,
    narrative_cached,
    narrative_read,
    narrative_regenerate,
    narratives_refresh_active,
)
from memory.services.recall import persona_narrative_cached
from memory.views import narratives as views_narratives
from tests.factories import RoomFactory, UserFactory, bot_draft
from tests.support.processes import ROOT
from tests.support.waiting import wait_for

# The narrative URLs as memory/urls.py declares them, in front of the site's own, so these tests
# do not depend on the wiring (the browser test, on a real Daphne, does).
urlpatterns = [
    path("api/personas/<slug:handle>/narrative", views_narratives.api_persona_narrative, name="memory-api-persona-narrative"),
    path("api/viewers/<str:username>/narrative", views_narratives.api_viewer_narrative, name="memory-api-viewer-narrative"),
    path("me/", views_narratives.profile_page, name="memory-profile"),
    path("", include("chatter_site.urls")),
]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]

WAIT_MS = 30_000


@pytest.fixture(autouse=True)
def _clean_narrative_keys(settings) -> None:
    client = redis_lib.Redis.from_url(os.environ["REDIS_URL"])
    keys = list(client.scan_iter("chatter:narrative:*", count=1000))
    if keys:
        client.delete(*keys)
    settings.NARRATIVE_MIN_MEMORIES = 3
    settings.NARRATIVE_TTL_DAYS = 7
    settings.CHAT_RATE_LIMIT_COUNT = 1000


@pytest.fixture
def sends(monkeypatch) -> list[tuple[str, str]]:
    """Regenerations handed to Celery, recorded instead of sent."""
    sent: list[tuple[str, str]] = []
    lock = threading.Lock()

    def record(*, subject_type: str, subject_key: str) -> None:
        with lock:
            sent.append((subject_type, subject_key))

    monkeypatch.setattr(enqueue, "narrative_regenerate_send", record)
    return sent


@pytest.fixture(scope="module")
def _tasks_wired() -> None:
    """A worker (autodiscovery imports every app's tasks) knows these tasks by the names services send,
    and memory's durable-job kinds are registered there."""
    probe = (
        "import sys, django; django.setup(); import memory.tasks, chatter_site.jobs.tasks; from celery import current_app; "
        "from chatter_site.lib.jobs import job_kinds; "
        "sys.exit(0 if {'chatter_site.jobs.tasks.job_run_task', 'memory.tasks.narratives_refresh_active_task'} <= set(current_app.tasks) and 'narrative' in {k.name for k in job_kinds()} else 3)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatter_site.settings"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        pytest.fail(f"the worker must know the tasks memory/enqueue.py sends and memory's job kinds: {result.stderr[-500:]}")


@pytest.fixture
def worker(_tasks_wired, celery_worker, llm_server):
    return celery_worker


def new_handle() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


def remember(*, handle: str = "somebot", count: int, about: str = "", room_slug: str = "lobby") -> None:
    for n in range(count):
        MemoryItem.objects.create(
            scope=f"room:{room_slug}|agent:{handle}",
            room_slug=room_slug,
            handle=handle,
            kind=MemoryItem.Kind.RELATIONSHIP,
            text=f"{about or 'nina'} and {handle} argue about speedrun routes, round {n}.",
            other_user=about,
            dedupe_key=uuid.uuid4().hex,
        )


def persona_lines(*, handle: str, count: int, room=None) -> None:
    room = room or RoomFactory()
    for n in range(count):
        draft = bot_draft(room=room, handle=handle, text=f"gg chat, that boss fight was wild #{n}")
        draft["author"]["color"] = "#22cc88"
        message_ingest(draft=draft_parse(draft))


def viewer_lines(*, user, count: int, room=None) -> None:
    room = room or RoomFactory()
    for n in range(count):
        message_ingest(draft=human_draft(user=user, room_slug=room.slug, text=f"hello chat, round {n}", client_id=uuid.uuid4().hex), user=user)


def stale_row(*, handle: str, days: float = 8) -> Narrative:
    row = Narrative.objects.create(
        subject_type="persona", subject_key=handle, text="old story", source_count=3,
        generated_at=timezone.now() - timedelta(days=days),
    )
    narrative_cache_put(row)
    return row


# --- the fast path ---------------------------------------------------------------------------------


def test_it_reads_a_cached_narrative_from_redis_alone(llm_server, record_property, django_assert_num_queries):
    handle = new_handle()
    remember(handle=handle, count=3)
    row = narrative_regenerate(subject_type="persona", subject_key=handle)
    assert row is not None and row.text

    timings = []
    with django_assert_num_queries(0):  # the fast path: no database round trip at all
        for _ in range(1000):
            started = time.perf_counter()
            text = persona_narrative_cached(handle=handle)
            timings.append(time.perf_counter() - started)
            assert text == row.text

    median_ms = statistics.median(timings) * 1000
    p99_ms = sorted(timings)[989] * 1000
    record_property("narrative_cache_hit_median_ms", round(median_ms, 4))
    # The "well under a millisecond" figure is measured by bench/memory_bench.py (d), not asserted
    # here: a median on a machine seven engineers share is not this code's to promise.
    print(f"\nnarrative cache hit over 1000 reads: median {median_ms:.3f} ms, p99 {p99_ms:.3f} ms")


def test_it_asks_for_one_regeneration_when_twenty_readers_miss_at_once(sends):
    handle = new_handle()
    start = threading.Barrier(20)
    results: list[str | None] = []

    def read() -> None:
        try:
            start.wait()
            results.append(persona_narrative_cached(handle=handle))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=read) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert results == [None] * 20
    assert sends == [("persona", handle)]
    # Later readers do not enqueue again while it is queued.
    assert narrative_cached(subject_type="persona", subject_key=handle) is None
    assert len(sends) == 1


def test_it_treats_a_narrative_older_than_the_ttl_as_missing(sends):
    handle = new_handle()
    stale_row(handle=handle)

    assert persona_narrative_cached(handle=handle) is None
    assert sends == [("persona", handle)]


def test_it_treats_an_unreadable_cache_entry_as_missing(sends):
    handle = new_handle()
    redis_lib.Redis.from_url(os.environ["REDIS_URL"]).set(f"chatter:narrative:persona:{handle}", b"{not json")

    assert persona_narrative_cached(handle=handle) is None
    assert sends == [("persona", handle)]


def test_it_regenerates_a_stale_narrative_on_a_real_worker(worker):
    handle = new_handle()
    remember(handle=handle, count=4)
    old = stale_row(handle=handle)

    assert persona_narrative_cached(handle=handle) is None
    text = wait_for(lambda: persona_narrative_cached(handle=handle), timeout=30, message="the regenerated narrative")

    row = Narrative.objects.get(subject_type="persona", subject_key=handle)
    assert row.pk == old.pk and text == row.text != "old story"
    assert timezone.now() - row.generated_at < timedelta(minutes=1)
    assert row.source_count == 4


def test_it_serves_a_fresh_row_when_redis_lost_the_entry_and_warms_the_cache_again(sends):
    handle = new_handle()
    Narrative.objects.create(subject_type="persona", subject_key=handle, text="still fresh", generated_at=timezone.now())
    remember(handle=handle, count=1)

    assert persona_narrative_cached(handle=handle) == "still fresh"
    assert sends == []
    cached = redis_lib.Redis.from_url(os.environ["REDIS_URL"]).get(f"chatter:narrative:persona:{handle}")
    assert json.loads(cached)["text"] == "still fresh"


def test_it_skips_a_subject_with_too_few_memories_and_says_why(llm_server):
    handle = new_handle()
    remember(handle=handle, count=2)

    assert narrative_regenerate(subject_type="persona", subject_key=handle) is None

    read = narrative_read(subject_type="persona", subject_key=handle)
    assert read.status == "not_enough_history"
    assert "2 memories" in read.reason and "at least 3" in read.reason
    assert llm_server.chat_requests == []
    assert not Narrative.objects.exists()


def test_it_writes_a_viewer_narrative_from_what_chat_remembers_about_them(llm_server):
    viewer = UserFactory()
    viewer_lines(user=viewer, count=2)
    remember(handle="zed", count=3, about=viewer.username)

    row = narrative_regenerate(subject_type="viewer", subject_key=viewer.username)

    assert row is not None and row.source_count == 3
    prompt = llm_server.chat_requests[-1]
    assert viewer.username not in prompt.text_of("system")  # a name is data, not instructions
    assert f'"name": "{viewer.username}"' in prompt.text_of("user")
    assert f"(about {viewer.username})" in prompt.text_of("user")
    assert "hello chat, round 1" in prompt.text_of("user")


# --- HTTP --------------------------------------------------------------------------------------------


def test_it_answers_404_for_an_unknown_persona_or_viewer(client, sends):
    for url in ("/api/personas/nobody-here/narrative", "/api/viewers/nobody-here/narrative"):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert sends == []


def test_it_answers_204_while_generating_and_enqueues_once(client, sends):
    handle = new_handle()
    remember(handle=handle, count=3)

    first = client.get(f"/api/personas/{handle}/narrative")
    second = client.get(f"/api/personas/{handle}/narrative")

    assert (first.status_code, second.status_code) == (204, 204)
    assert first["Retry-After"] == "2"
    assert sends == [("persona", handle)]


def test_it_answers_200_with_the_narrative_once_written(client, llm_server):
    viewer = UserFactory()
    viewer_lines(user=viewer, count=1)
    remember(count=3, about=viewer.username)
    row = narrative_regenerate(subject_type="viewer", subject_key=viewer.username)
    client.force_login(viewer)

    response = client.get(f"/api/viewers/{viewer.username}/narrative")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body == {
        "subject": viewer.username,
        "subject_type": "viewer",
        "status": "ready",
        "text": row.text,
        "generated_at": body["generated_at"],
    }
    assert abs((datetime.fromisoformat(body["generated_at"]) - row.generated_at).total_seconds()) < 0.01


def test_it_answers_200_not_enough_history_so_pages_stop_waiting(client, llm_server):
    handle = new_handle()
    persona_lines(handle=handle, count=1)
    narrative_regenerate(subject_type="persona", subject_key=handle)

    response = client.get(f"/api/personas/{handle}/narrative")

    assert response.status_code == 200  # a known persona: 404 is only for unknown names
    body = response.json()
    assert body["status"] == "not_enough_history" and body["text"] is None
    assert body["detail"].startswith("no narrative yet: ")


def test_it_shows_a_persona_page_with_its_recent_lines(client, sends):
    handle = new_handle()
    persona_lines(handle=handle, count=3)

    response = client.get(f"/personas/{handle}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert f"@{handle}" in page and "3 lines in chat" in page
    assert "that boss fight was wild #2" in page
    assert f'data-url="/api/personas/{handle}/narrative"' in page
    assert "--persona-color: #22cc88" in page
    assert client.get("/personas/nobody-here/").status_code == 404


def test_it_sends_anonymous_visitors_of_the_profile_page_to_sign_in(client):
    response = client.get("/me/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/me/")


def test_it_shows_a_signed_in_viewer_their_profile_page(client):
    viewer = UserFactory()
    viewer_lines(user=viewer, count=2)
    client.force_login(viewer)

    page = client.get("/me/").content.decode()

    assert f'data-url="/api/viewers/{viewer.username}/narrative"' in page
    assert "Your story so far" in page
    assert '<div class="stat-value" data-testid="message-count">2</div>' in page


# --- backfill, weekly refresh, admin ----------------------------------------------------------------


@pytest.fixture
def cast() -> dict[str, str]:
    """Two personas with memories, one with lines only, a regular viewer and an occasional one."""
    names = {"a": new_handle(), "b": new_handle(), "c": new_handle()}
    remember(handle=names["a"], count=3)
    remember(handle=names["b"], count=4)
    persona_lines(handle=names["c"], count=2)
    regular, occasional = UserFactory(), UserFactory()
    viewer_lines(user=regular, count=3)
    viewer_lines(user=occasional, count=1)
    remember(handle=names["a"], count=3, about=regular.username, room_slug="other")
    names["viewer"] = regular.username
    return names


def backfill(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("backfill_narratives", "--batch-size", "2", "--concurrency", "2", "--min-memories", "3", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_backfill_fills_the_cache_in_batches_and_a_rerun_skips_fresh_ones(cast, llm_server):
    out, _ = backfill()

    assert "batch 1/2: " in out and "batch 2/2: " in out and "(4/4 subjects)" in out
    assert "done: 4 subjects, generated 3, skipped 1 (0 fresh, 1 with too few memories), failed 0" in out
    assert set(Narrative.objects.values_list("subject_key", flat=True)) == {cast["a"], cast["b"], cast["viewer"]}
    assert persona_narrative_cached(handle=cast["a"])

    requests_before = len(llm_server.chat_requests)
    out, _ = backfill()

    assert "done: 4 subjects, generated 0, skipped 4 (3 fresh, 1 with too few memories), failed 0" in out
    assert len(llm_server.chat_requests) == requests_before
    assert Narrative.objects.count() == 3


def test_backfill_force_regenerates_fresh_ones(cast, llm_server):
    backfill("--subjects", "personas")
    before = dict(Narrative.objects.values_list("subject_key", "generated_at"))

    out, _ = backfill("--subjects", "personas", "--force")

    assert "done: 3 subjects, generated 2, skipped 1 (0 fresh, 1 with too few memories), failed 0" in out
    after = dict(Narrative.objects.values_list("subject_key", "generated_at"))
    assert all(after[key] > before[key] for key in before)


def test_backfill_isolates_a_failing_subject(cast, llm_server, monkeypatch):
    real = narrative_backfill.narrative_regenerate_outcome

    def flaky(*, subject_type, subject_key, min_sources=None):
        if subject_key == cast["b"]:
            raise RuntimeError("model fell over")
        return real(subject_type=subject_type, subject_key=subject_key, min_sources=min_sources)

    monkeypatch.setattr(narrative_backfill, "narrative_regenerate_outcome", flaky)

    with pytest.raises(CommandError, match=r"generated 2, skipped 1 .*failed 1; rerun to retry the failed ones"):
        backfill()
    assert set(Narrative.objects.values_list("subject_key", flat=True)) == {cast["a"], cast["viewer"]}


def test_backfill_reports_an_llm_outage_per_subject(cast, llm_server):
    llm_server.set_mode(fail_status=500)
    err = io.StringIO()

    with pytest.raises(CommandError, match="generated 0, skipped 1 .*failed 3"):
        call_command("backfill_narratives", "--min-memories", "3", stdout=io.StringIO(), stderr=err)
    assert f"failed persona:{cast['a']}: LLM endpoint answered HTTP 500" in err.getvalue()


def test_the_weekly_refresh_enqueues_active_subjects_once(sends):
    active_bot, quiet_bot = new_handle(), new_handle()
    viewer = UserFactory()
    persona_lines(handle=active_bot, count=1)
    persona_lines(handle=quiet_bot, count=1)
    viewer_lines(user=viewer, count=1)
    Message.objects.filter(author_key=f"bot:{quiet_bot}").update(created_at=timezone.now() - timedelta(days=8))

    assert narratives_refresh_active() == 2
    assert narratives_refresh_active() == 0  # still queued: nothing twice
    assert sorted(sends) == sorted([("persona", active_bot), ("viewer", viewer.username)])


def test_the_admin_regenerate_action_enqueues_even_during_a_cool_down(sends):
    handle = new_handle()
    row = stale_row(handle=handle)
    # Its last regeneration failed for good a moment ago: readers would not ask again yet.
    Job.objects.create(kind="narrative", key=f"persona:{handle}", status="dead", finished_at=timezone.now())
    request = RequestFactory().post("/admin/memory/narrative/")
    request.session = {}
    request._messages = FallbackStorage(request)

    NarrativeAdmin(Narrative, AdminSite()).regenerate(request, Narrative.objects.filter(pk=row.pk))

    assert sends == [("persona", handle)]
    assert [str(m) for m in request._messages] == ["1 narrative regeneration enqueued."]


# --- the profile page in a browser ---------------------------------------------------------------------


@pytest.fixture
def page(browser) -> Iterator:
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.mark.browser
@pytest.mark.slow
def test_the_profile_page_shows_being_written_then_the_narrative(live_daphne, worker, llm_server, page):
    from playwright.sync_api import expect

    try:
        reverse("memory-profile", urlconf="chatter_site.urls")
    except NoReverseMatch:
        pytest.skip("memory/urls.py is not wired into chatter_site/urls.py yet")
    viewer = UserFactory()
    viewer_lines(user=viewer, count=3)
    remember(handle="zed", count=3, about=viewer.username)
    llm_server.set_mode(latency=1.5)  # the model takes a moment: the page must say so meanwhile

    page.goto(f"{live_daphne}/accounts/login/?next=/me/")
    page.fill("#id_username", viewer.username)
    page.fill("#id_password", "correct-horse-battery")
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url(f"{live_daphne}/me/")

    expect(page.locator("#narrative-status")).to_contain_text("being written")
    expect(page.locator("#narrative-text")).to_be_visible(timeout=WAIT_MS)
    row = Narrative.objects.get(subject_type="viewer", subject_key=viewer.username)
    expect(page.locator("#narrative-text")).to_have_text(row.text)
    expect(page.locator("#narrative-status")).to_be_hidden()
    assert page.locator("#narrative").get_attribute("data-state") == "ready"
