"""The update service in this process, through the real openai client against the local test server."""
from __future__ import annotations

import pytest

from chat.models import Room
from chatter_site.lib.errors import ChatterError
from chatter_site.lib.redis import redis_client
from scribe import coordination, services
from scribe.events import dirty_key, queued_key
from scribe.models import ScribeDocument, ScribeRevision
from scribe.prompts import PLACEHOLDER
from scribe.services import update as scribe_update
from scribe.storage import version_read
from tests.factories import RoomFactory
from tests.scribe.helpers import assert_each_turn_once, say
from tests.support.fixtures_llm import TEST_API_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def room() -> Room:
    return RoomFactory()


@pytest.fixture
def document(room) -> ScribeDocument:
    return services.document_start(room_slug=room.slug, title="The long stream", style="literary")


def run(document: ScribeDocument) -> services.UpdateReport:
    try:
        return services.document_update_run(document_id=document.pk)
    finally:
        document.refresh_from_db()


def test_it_folds_each_turn_into_one_new_version(llm_server, document, room):
    messages = []
    for n in range(5):
        messages.append(say(room, f"turn {n}: the boss fight with the lava golem, attempt {n}"))
        report = run(document)
        assert [step.version for step in report.applied] == [n + 2]

    assert document.version == 6
    assert document.cursor_seq == messages[-1].seq == Room.objects.get(pk=room.pk).last_seq
    assert document.content.startswith("# The long stream\n")
    assert PLACEHOLDER not in document.content
    assert_each_turn_once(document.content, messages)
    revisions = list(document.revisions.order_by("version"))
    assert [r.version for r in revisions] == [1, 2, 3, 4, 5, 6]
    assert [(r.first_seq, r.last_seq) for r in revisions[1:]] == [(m.seq, m.seq) for m in messages]
    # Every update went out through the openai client to the test server.
    requests = llm_server.chat_requests
    assert len(requests) == 5
    assert all(r.headers.get("authorization") == f"Bearer {TEST_API_KEY}" for r in requests)
    assert "turn 4: the boss fight" in requests[-1].text_of("user")


def test_it_stores_every_version_with_its_hash(llm_server, document, room):
    say(room, "a first message for the record")
    run(document)
    for revision in document.revisions.all():
        text = version_read(key=revision.storage_key, sha256=revision.sha256)
        assert revision.storage_key.startswith(f"scribe/{document.slug}/v{revision.version:06d}-")
        assert revision.size == len(text.encode())
    assert version_read(key=document.revisions.get(version=2).storage_key) == document.content


def test_it_folds_a_burst_into_one_update(llm_server, document, room):
    messages = [say(room, f"burst line {n} pog") for n in range(12)]
    report = run(document)

    assert len(report.applied) == 1 and report.applied[0].turns == 12
    assert document.version == 2
    assert_each_turn_once(document.content, messages)
    revision = document.revisions.get(version=2)
    assert (revision.first_seq, revision.last_seq, revision.turns) == (messages[0].seq, messages[-1].seq, 12)
    assert revision.llm_ms is not None and revision.overhead_ms is not None


def test_it_caps_the_turns_of_one_update_and_loops(llm_server, document, room, settings):
    settings.SCRIBE_BATCH_MAX_TURNS = 4
    messages = [say(room, f"capped line {n}") for n in range(10)]
    report = run(document)

    assert [step.turns for step in report.applied] == [4, 4, 2]
    assert document.version == 4 and document.cursor_seq == messages[-1].seq
    assert_each_turn_once(document.content, messages)
    ranges = [(r.first_seq, r.last_seq) for r in document.revisions.filter(kind="update").order_by("version")]
    assert ranges == [(messages[0].seq, messages[3].seq), (messages[4].seq, messages[7].seq), (messages[8].seq, messages[9].seq)]


def test_it_processes_no_turn_twice_when_run_again(llm_server, document, room):
    say(room, "only once please")
    run(document)
    report = run(document)

    assert report.applied == [] and [s.outcome for s in report.steps] == ["nothing"]
    assert document.version == 2 and len(llm_server.chat_requests) == 1


def test_it_keeps_the_previous_version_when_the_answer_looks_truncated(llm_server, document, room):
    first = [say(room, f"a long and detailed line number {n} about the speedrun route and its many skips") for n in range(8)]
    run(document)
    kept = document.content
    later = say(room, "the line that was cut off")
    llm_server.set_mode(script=["# The long stream\n\nA long and det"])

    with pytest.raises(services.ScribeTransientError, match="truncated"):
        run(document)

    assert document.version == 2 and document.content == kept and document.cursor_seq == first[-1].seq
    assert document.status == "error" and "kept version 2" in document.last_error and "truncated" in document.last_error
    assert document.revisions.count() == 2
    # The retry (the task's autoretry) folds the turn in once the LLM behaves.
    run(document)
    assert document.version == 3 and document.status == "idle"
    assert_each_turn_once(document.content, [*first, later])


def test_it_keeps_the_previous_version_when_the_answer_is_empty(llm_server, document, room):
    say(room, "hello?")
    llm_server.set_mode(junk="empty")

    with pytest.raises(services.ScribeTransientError):
        run(document)

    assert document.version == 1 and document.status == "error" and "empty" in document.last_error


def test_it_mends_an_answer_that_drops_the_header(llm_server, document, room):
    say(room, "hello?")
    llm_server.set_mode(script=["Someone said hello."])

    run(document)

    assert document.version == 2 and document.content == "# The long stream\n\nSomeone said hello.\n"


def test_it_mends_an_answer_wrapped_in_a_preamble_and_a_fence(llm_server, document, room):
    say(room, "hello?")
    llm_server.set_mode(script=["Here is the updated document:\n```markdown\n# The long stream\n\nSomeone said hello.\n```"])

    run(document)

    assert document.version == 2 and document.content == "# The long stream\n\nSomeone said hello.\n"
    assert version_read(key=document.revisions.get(version=2).storage_key) == document.content


def test_it_keeps_the_previous_version_when_the_answer_was_cut_at_the_token_limit(llm_server, document, room, settings):
    settings.SCRIBE_LLM_MAX_TOKENS = 256
    say(room, "tell the whole story")
    llm_server.set_mode(script=["# The long stream\n\n" + "and then the boss fell again " * 60])

    with pytest.raises(services.ScribeTransientError):
        run(document)

    assert document.version == 1 and "truncated" in document.last_error


def test_it_records_an_llm_outage_and_writes_nothing(llm_server, document, room, settings):
    settings.SCRIBE_LLM_TIMEOUT = 2.0
    say(room, "is anyone there")
    llm_server.set_mode(fail_status=503)

    with pytest.raises(services.ScribeTransientError):
        run(document)

    assert document.version == 1 and document.status == "error" and document.last_error.startswith("LLM ")
    assert document.cursor_seq == Room.objects.get(pk=room.pk).last_seq - 1


def test_it_writes_nothing_while_stopped(llm_server, document, room):
    services.document_toggle(document_id=document.pk, enabled=False)
    say(room, "nobody is writing this down")
    report = run(document)

    assert [s.outcome for s in report.steps] == ["stopped"]
    assert document.version == 1 and llm_server.chat_requests == []


def test_it_folds_in_what_it_missed_on_a_restart_with_catch_up(llm_server, document, room):
    services.document_toggle(document_id=document.pk, enabled=False)
    missed = [say(room, f"missed line {n}") for n in range(3)]
    services.document_toggle(document_id=document.pk, enabled=True, catch_up=True)
    run(document)

    assert document.version == 2
    assert_each_turn_once(document.content, missed)


def test_it_starts_from_now_on_a_restart_without_catch_up(llm_server, document, room):
    services.document_toggle(document_id=document.pk, enabled=False)
    missed = [say(room, f"skipped line {n}") for n in range(3)]
    services.document_toggle(document_id=document.pk, enabled=True, catch_up=False)
    document.refresh_from_db()
    assert document.cursor_seq == missed[-1].seq
    fresh = say(room, "the first line after the restart")
    run(document)

    assert all(m.text not in document.content for m in missed)
    assert_each_turn_once(document.content, [fresh])


def test_it_builds_on_an_edit_made_during_an_update(llm_server, document, room, monkeypatch):
    say(room, "the golem falls")
    real_llm_chat = scribe_update.llm_chat_answer
    calls = []

    def llm_chat_with_a_concurrent_edit(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:  # a moderator saves while the first update waits on the LLM
            services.document_edit(document_id=document.pk, content="# The long stream\n\nModerator's opening.\n", base_version=1)
        return real_llm_chat(**kwargs)

    monkeypatch.setattr(scribe_update, "llm_chat_answer", llm_chat_with_a_concurrent_edit)
    report = run(document)

    assert [s.outcome for s in report.steps] == ["conflict", "applied", "nothing"]
    assert document.version == 3
    assert "Moderator's opening." in document.content and document.content.count("the golem falls") == 1
    assert [r.kind for r in document.revisions.order_by("version")] == ["start", "edit", "update"]


def test_it_leaves_a_locked_document_to_its_holder_and_marks_it_dirty(llm_server, document, room):
    say(room, "while someone else holds the lock")
    holder = coordination.lock_acquire(document_id=document.pk)
    try:
        report = run(document)
        assert report.outcome == "busy" and document.version == 1
        assert redis_client().exists(dirty_key(document.pk))
    finally:
        holder.release()
    report = run(document)
    assert report.outcome == "done" and document.version == 2


def test_it_triggers_from_the_index_without_sql(document, room, django_assert_num_queries):
    services.scribe_index_rebuild()
    redis_client().delete(queued_key(document.pk))

    with django_assert_num_queries(0):
        assert services.room_messages_trigger(room_slug=room.slug) == 1
        assert services.room_messages_trigger(room_slug=room.slug) == 0  # one waiting update is enough
    redis_client().delete(queued_key(document.pk))


def test_it_rebuilds_a_lost_trigger_index(document, room):
    services.document_toggle(document_id=document.pk, enabled=False)
    other = services.document_start(room_slug=room.slug, title="Second", style="factual")
    redis_client().delete("chatter:scribe:enabled-index-ready")

    assert coordination.enabled_index_read(room_slug=room.slug) is None
    services.room_messages_trigger(room_slug=room.slug)
    assert coordination.enabled_index_read(room_slug=room.slug) == [other.pk]
    redis_client().delete(queued_key(other.pk))


def test_a_document_started_while_the_index_is_rebuilt_stays_in_it(document, room, monkeypatch):
    """The worker's start-up sweep rebuilt the index from a read taken just before a scribe was
    started: the replace wiped the new document's entry and its room's messages never triggered it."""
    from scribe.services import triggers

    read = triggers.enabled_documents_by_room
    started = []

    def read_then_a_scribe_starts():
        by_room = read()
        if not started:
            started.append(services.document_start(room_slug=room.slug, title="Started meanwhile", style="factual"))
            coordination.enabled_index_set(room_slug=room.slug, document_id=started[0].pk, enabled=True)  # its on-commit step
        return by_room

    monkeypatch.setattr(triggers, "enabled_documents_by_room", read_then_a_scribe_starts)
    services.scribe_index_rebuild()

    assert coordination.enabled_index_read(room_slug=room.slug) == sorted([document.pk, started[0].pk])
    redis_client().delete(queued_key(document.pk), queued_key(started[0].pk))


def test_it_restores_an_old_version_as_a_new_one(llm_server, document, room):
    say(room, "the version to come back to")
    run(document)
    v2 = document.content
    say(room, "a line that will be undone")
    run(document)

    services.document_restore(document_id=document.pk, version=2, base_version=3)
    document.refresh_from_db()

    assert document.version == 4 and document.content == v2
    restored = document.revisions.get(version=4)
    assert restored.kind == "restore" and restored.restored_from == 2
    assert version_read(key=restored.storage_key, sha256=restored.sha256) == v2


def test_it_refuses_a_stale_edit(llm_server, document, room):
    say(room, "the scribe writes first")
    run(document)

    with pytest.raises(ChatterError) as refused:
        services.document_edit(document_id=document.pk, content="# The long stream\n\nMy version.\n", base_version=1)

    assert refused.value.code == "stale"
    assert "you edited version 1, it is now version 2" in refused.value.message
    document.refresh_from_db()
    assert document.version == 2 and "My version." not in document.content
    assert ScribeRevision.objects.filter(document=document, kind="edit").count() == 0


def test_it_sweeps_up_documents_left_behind(document, room):
    say(room, "a message whose trigger was lost")
    stopped = services.document_start(room_slug=room.slug, title="Stopped one", style="factual")
    services.document_toggle(document_id=stopped.pk, enabled=False)
    redis_client().set(queued_key(document.pk), "1")  # as if a dead worker had reserved the update

    assert services.scribe_sweep() == 1  # the enabled document behind its room, despite the stale flag
    assert coordination.enabled_index_read(room_slug=room.slug) == [document.pk]
    redis_client().delete(queued_key(document.pk))
