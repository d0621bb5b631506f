"""The memory store over the real Mem0 library, a real Chroma server and the local OpenAI-compatible
server as Mem0's embedder: scoping, metadata, dedupe, supersede, hygiene, fading, the bounded fast
path, and the moderators' admin screen."""
from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import path
from django.utils import timezone

import memory.admin.items  # noqa: F401  registers MemoryItem (memory/admin/ imports it in the app)
from chatter_site.lib.errors import ChatterError
from memory.mem0_client import EMBED_PROBE_TEXT, mem0_config, mem0_memory, scope_for, store_reset
from memory.metrics import SEARCH_TOTAL
from memory.models import MemoryItem
from memory.selectors import memory_search
from memory.services import store
from memory.services.recall import persona_memories_top_k
from memory.services.store import memories_fade, memory_delete, memory_recall, memory_write
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db(transaction=True)

# The admin tests route through this module (see `urls` below): memory/admin/, which imports
# memory.admin.items for the real site, is another module's business.
urlpatterns = [path("admin/", admin.site.urls)]

ROOM = "speedrun"


@pytest.fixture
def memory_store(chroma_server, llm_server):
    return chroma_server


def write(**overrides) -> MemoryItem | None:
    values = {
        "room_slug": ROOM,
        "handle": "kappa_king",
        "kind": MemoryItem.Kind.RELATIONSHIP,
        "text": "nina keeps beating my split times and gloats about it",
        "other_user": "nina",
        "subject": "nina",
        "confidence": MemoryItem.Confidence.MED,
        "dedupe_key": f"key-{time.monotonic_ns()}",
    }
    values.update(overrides)
    return memory_write(**values)


def vectors_of(scope: str) -> list[dict]:
    return mem0_memory().get_all(filters={"user_id": scope}, top_k=100)["results"]


def searched(handle: str = "kappa_king", query: str = "nina split times", **kwargs) -> list[str]:
    return [hit["text"] for hit in memory_search(room_slug=ROOM, handle=handle, query=query, k=5, **kwargs)]


def outcome_count(outcome: str) -> float:
    return SEARCH_TOTAL.labels(outcome=outcome)._value.get()


# --- configuration ----------------------------------------------------------------------------------


def test_it_configures_mem0_with_the_project_endpoint_and_the_chroma_server(memory_store, llm_server, settings):
    config = mem0_config()
    assert config["vector_store"] == {
        "provider": "chroma",
        "config": {"host": "127.0.0.1", "port": memory_store.port, "collection_name": memory_store.collection},
    }
    assert config["embedder"]["config"]["openai_base_url"] == llm_server.base_url
    assert config["embedder"]["config"]["embedding_dims"] == settings.CHATTER_EMBED_DIMS
    assert config["llm"]["provider"] == "openai"
    assert config["history_db_path"].startswith(str(settings.MEMORY_DIR))


@pytest.mark.parametrize(
    ("url", "provider", "expected"),
    [
        ("qdrant://vectors.internal:6334", "qdrant", {"host": "vectors.internal", "port": 6334}),
        ("postgres://mem:pw@db:5432/chatter", "pgvector", {"connection_string": "postgres://mem:pw@db:5432/chatter"}),
    ],
)
def test_it_maps_other_vector_store_urls_to_mem0_providers(llm_server, settings, url, provider, expected):
    settings.MEMORY_VECTOR_STORE_URL = url
    vector_store = mem0_config()["vector_store"]
    assert vector_store["provider"] == provider
    assert expected.items() <= vector_store["config"].items()


def test_it_says_how_to_get_a_vector_store_when_none_is_configured(llm_server, settings, monkeypatch, tmp_path):
    monkeypatch.setenv("CHATTER_RUNTIME_DIR", str(tmp_path))  # no runner recorded here
    settings.MEMORY_VECTOR_STORE_URL = None
    with pytest.raises(ChatterError) as caught:
        write()
    assert caught.value.code == "unavailable"
    assert "CHATTER_VECTOR_STORE" in caught.value.message and "runchatter" in caught.value.message


# --- vector size: CHATTER_EMBED_DIMS, an endpoint that ignores `dimensions`, a collection of another size -----


def test_it_sends_no_dimensions_and_takes_the_models_own_size_when_dims_is_zero(memory_store, llm_server, settings):
    settings.CHATTER_EMBED_DIMS = 0
    llm_server.set_mode(native_dims=96)
    store_reset()

    item = write()

    assert item is not None and searched() == [item.text]
    assert all("dimensions" not in r.body for r in llm_server.embedding_requests)
    assert len(mem0_memory().vector_store.collection.get(limit=1, include=["embeddings"])["embeddings"][0]) == 96
    assert "embedding_dims" not in mem0_config()["embedder"]["config"]


def test_it_says_to_set_dims_to_zero_when_the_endpoint_ignores_dimensions(memory_store, llm_server, settings):
    llm_server.set_mode(native_dims=96)  # CHATTER_EMBED_DIMS stays 256: asked, and ignored
    store_reset()

    with pytest.raises(ChatterError) as caught:
        write()

    assert caught.value.code == "unavailable"
    assert "answers 96-dimensional vectors" in caught.value.message and "CHATTER_EMBED_DIMS=0" in caught.value.message
    assert not MemoryItem.objects.exists()


def test_it_says_a_new_collection_is_needed_when_the_size_changes(memory_store, llm_server, settings):
    write()  # 256-dimensional vectors in this test's collection
    settings.CHATTER_EMBED_DIMS = 0
    llm_server.set_mode(native_dims=96)
    store_reset()

    with pytest.raises(ChatterError) as caught:
        write(text="nina asked whether the fireball skip is worth the risk")

    assert f"collection {memory_store.collection!r} holds 256-dimensional vectors" in caught.value.message
    assert "CHATTER_MEMORY_COLLECTION" in caught.value.message
    assert MemoryItem.objects.count() == 1
    # Told once, then the same answer without asking the endpoint again for a while.
    probes = len(llm_server.embedding_requests)
    with pytest.raises(ChatterError):
        write(text="nina asked about the fireball skip again")
    assert len(llm_server.embedding_requests) == probes


def test_it_refuses_a_dims_setting_between_one_and_seven():
    import os
    import subprocess
    import sys

    env = {**os.environ, "CHATTER_EMBED_DIMS": "4"}
    done = subprocess.run([sys.executable, "-c", "import chatter_site.settings"], env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode != 0
    assert "CHATTER_EMBED_DIMS must be 0 (the model's own size) or 8..8192, got 4" in done.stderr


# --- writes, search, delete -------------------------------------------------------------------------


def test_it_stores_a_memory_in_mem0_under_the_persona_scope_with_its_metadata(memory_store, llm_server):
    item = write(confidence=MemoryItem.Confidence.HIGH)

    assert item is not None and item.status == MemoryItem.Status.ACTIVE and item.mem0_id
    stored = mem0_memory().get(item.mem0_id)
    assert stored["memory"] == "nina keeps beating my split times and gloats about it"
    assert stored["user_id"] == scope_for(ROOM, "kappa_king") == "room:speedrun|agent:kappa_king"
    assert {"type": "relationship", "other_user": "nina", "confidence": "high", "subject": "nina"}.items() <= stored[
        "metadata"
    ].items()
    assert llm_server.embedding_requests, "Mem0 embeds through the project's OpenAI-compatible endpoint"


def test_it_finds_a_stored_memory_and_marks_it_used(memory_store):
    item = write()

    hits = memory_recall(room_slug=ROOM, handle="kappa_king", query="who beats my split times", k=3)

    assert [hit["id"] for hit in hits] == [item.id]
    assert hits[0]["kind"] == "relationship" and hits[0]["score"] is not None
    item.refresh_from_db()
    assert item.last_used_at is not None and hits[0]["last_used_at"] == item.last_used_at


def test_it_searches_without_marking_anything_used(memory_store):
    item = write()

    hits = memory_search(room_slug=ROOM, handle="kappa_king", query="who beats my split times", k=3)

    assert [hit["id"] for hit in hits] == [item.id]
    item.refresh_from_db()
    assert item.last_used_at is None and hits[0]["last_used_at"] is None


def test_it_filters_search_by_kind(memory_store):
    write(kind=MemoryItem.Kind.CATCHPHRASE, text="when the boss dies nina types KEKW CLIP IT", subject="")
    write(text="nina is my friendly rival on split times")

    assert searched(query="nina", kinds=["catchphrase"]) == ["when the boss dies nina types KEKW CLIP IT"]


def test_it_removes_a_deleted_memory_from_mem0_and_from_search(memory_store):
    item = write()

    memory_delete(item=item)

    item.refresh_from_db()
    assert item.status == MemoryItem.Status.DELETED
    assert mem0_memory().get(item.mem0_id) is None
    assert searched() == []


def test_it_never_shows_one_persona_another_personas_memories(memory_store):
    text = "nina keeps beating my split times and gloats about it"
    mine = write(handle="kappa_king", text=text)
    theirs = write(handle="stat_nerd", text=text)

    hits = memory_search(room_slug=ROOM, handle="kappa_king", query=text, k=10)
    other_room = memory_search(room_slug="elsewhere", handle="kappa_king", query=text, k=10)

    assert [hit["id"] for hit in hits] == [mine.id]
    assert other_room == []
    assert [v["id"] for v in vectors_of(scope_for(ROOM, "stat_nerd"))] == [theirs.mem0_id]


def test_it_writes_a_dedupe_key_only_once(memory_store, llm_server):
    first = write(dedupe_key="job-7|relationship|nina")
    embeddings_after_first = len(llm_server.embedding_requests)

    second = write(dedupe_key="job-7|relationship|nina", text="a differently worded redo of the same memory")

    assert second.pk == first.pk
    assert len(llm_server.embedding_requests) == embeddings_after_first, "no second Mem0 add"
    assert len(vectors_of(scope_for(ROOM, "kappa_king"))) == 1


def test_it_keeps_the_other_writers_memory_when_two_write_one_key_at_once(memory_store, monkeypatch):
    refusal = store.memory_text_refusal

    def another_worker_wins_meanwhile(text: str):
        MemoryItem.objects.create(
            scope=scope_for(ROOM, "kappa_king"), room_slug=ROOM, handle="kappa_king", kind="relationship",
            text="the other worker's copy", dedupe_key="job-8|race",
        )
        return refusal(text)

    monkeypatch.setattr(store, "memory_text_refusal", another_worker_wins_meanwhile)

    item = write(dedupe_key="job-8|race")

    assert item.text == "the other worker's copy"
    assert MemoryItem.objects.filter(dedupe_key="job-8|race").count() == 1
    assert vectors_of(scope_for(ROOM, "kappa_king")) == [], "the losing write leaves no vector behind"


def test_it_supersedes_an_older_relationship_on_the_same_subject(memory_store):
    old = write(text="nina is my bitter rival on split times", subject="Nina")
    new = write(text="nina became my speedrun coach and friend on split times", subject="nina")

    old.refresh_from_db()
    assert old.status == MemoryItem.Status.SUPERSEDED and old.superseded_by_id == new.id
    assert new.status == MemoryItem.Status.ACTIVE
    assert searched(query="nina split times rival") == ["nina became my speedrun coach and friend on split times"]
    assert mem0_memory().get(old.mem0_id) is None
    assert MemoryItem.objects.filter(pk=old.pk).exists(), "kept in the ledger as history"


def test_it_keeps_relationships_about_different_subjects(memory_store):
    write(text="nina is my rival on split times", subject="nina")
    write(text="max cheers every split time", other_user="max", subject="max")

    assert MemoryItem.objects.filter(status=MemoryItem.Status.ACTIVE).count() == 2


@pytest.mark.parametrize(
    "text",
    [
        "nina's email is nina.speed@example.com, write her",
        "nina said her phone number is +1 415 555 0142",
    ],
)
def test_it_refuses_personal_data(memory_store, llm_server, text):
    assert write(text=text) is None
    assert not MemoryItem.objects.exists()
    assert not llm_server.embedding_requests, "nothing reached Mem0"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "nina wrote aaaaaaaaaaaaaaaa again", "KEKW KEKW KEKW", "🔥🔥🔥 !!!", "gg gg gg gg gg ez", "x" * 301],
)
def test_it_refuses_spam_and_empty_or_oversized_text(memory_store, text):
    assert write(text=text) is None
    assert not MemoryItem.objects.exists()


def test_it_fades_running_jokes_unused_for_long(memory_store, settings):
    now = timezone.now()
    stale = write(kind=MemoryItem.Kind.CATCHPHRASE, text="when the boss dies nina types CLIP IT", subject="")
    fresh = write(kind=MemoryItem.Kind.CATCHPHRASE, text="every reset chat spams copium wave", subject="")
    long_ago = now - timedelta(days=settings.MEMORY_JOKE_FADE_DAYS + 1)
    MemoryItem.objects.filter(pk=stale.pk).update(created_at=long_ago, last_used_at=long_ago)
    MemoryItem.objects.filter(pk=fresh.pk).update(created_at=long_ago, last_used_at=now - timedelta(days=1))

    assert memories_fade(now=now) == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == MemoryItem.Status.FADED and fresh.status == MemoryItem.Status.ACTIVE
    assert mem0_memory().get(stale.mem0_id) is None


def test_it_never_leaks_the_api_key_when_the_embedder_fails(memory_store, llm_server):
    from tests.support.fixtures_llm import TEST_API_KEY

    llm_server.set_mode(fail_status=500)  # the test server quotes the key back, as OpenAI's 401 does
    with pytest.raises(ChatterError) as caught:
        write()
    assert caught.value.code == "unavailable"
    assert TEST_API_KEY not in caught.value.message
    assert not MemoryItem.objects.exists()


# --- the fast path ------------------------------------------------------------------------------------


def test_it_gives_personas_their_memories_as_prompt_lines(memory_store):
    write(text="nina keeps beating my split times", confidence=MemoryItem.Confidence.LOW)

    lines = persona_memories_top_k(room_slug=ROOM, handle="kappa_king", query="split times", k=5)

    assert lines == ["relationship with nina: nina keeps beating my split times (unverified)"]


def test_it_asks_mem0_nothing_for_a_persona_without_memories(memory_store, llm_server):
    write(handle="stat_nerd")

    assert persona_memories_top_k(room_slug=ROOM, handle="kappa_king", query="split times", k=5) == []
    embedded = [r for r in llm_server.embedding_requests if r.body["input"] != [EMBED_PROBE_TEXT]]
    assert len(embedded) == 1, "only stat_nerd's write was embedded"


def test_it_generates_without_memories_quickly_when_the_vector_store_is_down(memory_store, settings):
    write()
    settings.MEMORY_VECTOR_STORE_URL = f"chroma://127.0.0.1:{free_port()}"  # nothing listens there
    store_reset()
    before = outcome_count("unavailable")

    started = time.monotonic()
    lines = persona_memories_top_k(room_slug=ROOM, handle="kappa_king", query="split times", k=5)
    elapsed = time.monotonic() - started

    assert lines == []
    # Nothing listens, so it fails at once; the bound only says "no hang", with room for a loaded machine.
    assert elapsed < settings.MEMORY_SEARCH_TIMEOUT + 2.0
    assert outcome_count("unavailable") == before + 1


def test_it_stops_waiting_for_a_slow_embedder_after_the_search_timeout(memory_store, llm_server, settings):
    write()
    llm_server.set_mode(latency=4.0)
    before = outcome_count("timeout")

    started = time.monotonic()
    lines = persona_memories_top_k(room_slug=ROOM, handle="kappa_king", query="split times", k=5)
    elapsed = time.monotonic() - started

    assert lines == []
    # It answered well before the embedder would have (4 s): the 0.5 s search timeout cut the wait.
    assert elapsed < 3.0
    assert outcome_count("timeout") == before + 1


def test_it_adds_and_searches_well_within_the_fast_path_budget(memory_store, settings, capsys):
    write(text="warm-up memory about nina and split times")  # builds Mem0 once, as a process would
    adds, searches = [], []
    for n in range(10):
        started = time.perf_counter()
        write(text=f"memory number {n} about nina and split times", subject=f"s{n}")
        adds.append(time.perf_counter() - started)
        started = time.perf_counter()
        persona_memories_top_k(room_slug=ROOM, handle="kappa_king", query=f"nina split {n}", k=5)
        searches.append(time.perf_counter() - started)

    add_ms, search_ms = statistics.median(adds) * 1000, statistics.median(searches) * 1000
    with capsys.disabled():
        print(f"\nmem0 latency (median of 10): memory_write {add_ms:.1f} ms, persona_memories_top_k {search_ms:.1f} ms")
    assert search_ms / 1000 < settings.MEMORY_SEARCH_TIMEOUT


# --- admin ----------------------------------------------------------------------------------------------


@pytest.fixture
def moderator_client(client):
    client.force_login(get_user_model().objects.create_superuser("mod", "mod@example.com", "correct-horse-battery"))
    return client


@pytest.mark.urls(__name__)
def test_it_lists_memories_for_moderators_with_filters_and_search(memory_store, moderator_client):
    write(text="nina keeps beating my split times")

    response = moderator_client.get("/admin/memory/memoryitem/?q=nina&kind__exact=relationship&status__exact=active")

    assert response.status_code == 200
    assert "nina keeps beating my split times" in response.content.decode()


@pytest.mark.urls(__name__)
def test_it_shows_the_supersede_history_on_a_memory(memory_store, moderator_client):
    old = write(text="nina is my bitter rival on split times")
    new = write(text="nina became my speedrun coach and friend")

    page = moderator_client.get(f"/admin/memory/memoryitem/{new.pk}/change/").content.decode()

    assert "nina is my bitter rival on split times" in page and "Superseded (kept as history)" in page
    assert f"/admin/memory/memoryitem/{old.pk}/change/" in page


@pytest.mark.urls(__name__)
def test_it_deletes_memories_from_admin_through_mem0(memory_store, moderator_client):
    item = write()

    response = moderator_client.post(
        "/admin/memory/memoryitem/", {"action": "delete_memories", "_selected_action": [item.pk]}
    )

    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == MemoryItem.Status.DELETED
    assert mem0_memory().get(item.mem0_id) is None


@pytest.mark.urls(__name__)
def test_it_deletes_a_memory_with_the_delete_button_through_mem0(memory_store, moderator_client):
    item = write()

    response = moderator_client.post(f"/admin/memory/memoryitem/{item.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == MemoryItem.Status.DELETED
    assert mem0_memory().get(item.mem0_id) is None


@pytest.mark.urls(__name__)
def test_it_lets_a_moderator_rewrite_a_memory_through_mem0(memory_store, moderator_client):
    item = write(text="nina keeps beating my split times and gloats about it")
    page = moderator_client.get(f"/admin/memory/memoryitem/{item.pk}/change/").content.decode()
    assert f"/admin/memory/memoryitem/{item.pk}/edit/" in page

    response = moderator_client.post(f"/admin/memory/memoryitem/{item.pk}/edit/", {"text": "nina and kappa_king race splits as friends"})

    assert response.status_code == 302
    item.refresh_from_db()
    new = item.superseded_by
    assert item.status == MemoryItem.Status.SUPERSEDED and new is not None
    assert new.text == "nina and kappa_king race splits as friends" and new.status == MemoryItem.Status.ACTIVE
    assert new.confidence == MemoryItem.Confidence.HIGH and (new.handle, new.kind, new.subject) == (item.handle, item.kind, item.subject)
    assert [v["memory"] for v in vectors_of(item.scope)] == [new.text]  # the old text left the vector store
    refused = moderator_client.post(f"/admin/memory/memoryitem/{new.pk}/edit/", {"text": "mail nina at nina@example.com"})
    assert refused.status_code == 400 and MemoryItem.objects.get(pk=new.pk).status == MemoryItem.Status.ACTIVE


@pytest.mark.urls(__name__)
def test_it_keeps_memory_rewrites_from_staff_without_the_change_permission(memory_store, client):
    from django.contrib.auth.models import Permission

    item = write()
    staff = get_user_model().objects.create_user("viewonly", password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_memoryitem"))
    client.force_login(staff)
    assert client.post(f"/admin/memory/memoryitem/{item.pk}/edit/", {"text": "vandalised"}).status_code == 403
    item.refresh_from_db()
    assert item.status == MemoryItem.Status.ACTIVE
