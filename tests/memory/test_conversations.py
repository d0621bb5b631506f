"""Conversation memories (SPEC 6.3): selection, one batch job on a real worker through the local
OpenAI-compatible server, per-item isolation, idempotent reruns and UPSERT."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta

import pytest
import redis as redis_lib
from celery import Celery
from django.core.management import CommandError, call_command
from django.utils import timezone

from chat.models import Conversation
from chat.services import draft_parse, message_ingest
from memory.models import ConversationMemory
from memory.selectors import conversation_memories_job_progress, conversations_needing_memory
from memory.services import conversations as conversations_module
from memory.services.conversations import (
    ConversationMemoryData,
    conversation_memories_batch,
    conversation_memories_enqueue,
    duration_parse,
)
from tests.factories import RoomFactory, bot_draft
from tests.support.processes import ROOT
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

TWO_HOURS = timedelta(hours=2)
JOB_TIMEOUT = 60

SCRIPTED = ConversationMemoryData(
    summary="The boss fight went wrong twice, then chat celebrated the clutch.",
    topics=["boss fight", "clutch"],
    notable_moments=[{"seq": 2, "text": "the clutch"}],
    participants=[{"name": "zed", "origin": "bot", "role": "hype"}],
    relationships=[{"a": "zed", "b": "mo", "kind": "rivals", "reason": "argued about the build"}],
    running_jokes=[{"trigger": "boss", "phrase": "skill issue"}],
    open_threads=["will they beat it tomorrow?"],
).model_dump_json()


@pytest.fixture(autouse=True)
def _clean_batch_keys() -> None:
    client = redis_lib.Redis.from_url(os.environ["REDIS_URL"])
    keys = list(client.scan_iter("chatter:convmem:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="module")
def _tasks_wired() -> None:
    """A worker (autodiscovery imports every app's tasks) knows these tasks by the names services send,
    and memory's durable-job kinds are registered there."""
    probe = (
        "import sys, django; django.setup(); import memory.tasks, chatter_site.jobs.tasks; from celery import current_app; "
        "from chatter_site.lib.jobs import job_kinds; "
        "sys.exit(0 if {'chatter_site.jobs.tasks.job_run_task', 'memory.tasks.conversation_memories_enqueue_task'} <= set(current_app.tasks) and 'conversation-memories' in {k.name for k in job_kinds()} else 3)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatter_site.settings"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        pytest.fail(f"the worker must know the tasks memory/enqueue.py sends and memory's job kinds: {result.stderr[-500:]}")


@pytest.fixture
def worker(_tasks_wired, celery_worker, llm_server):
    return celery_worker


def conversation(*, lines: int = 3, idle: timedelta = timedelta(hours=3), handle: str = "zed") -> Conversation:
    """A room's conversation with `lines` bot messages, last active `idle` ago."""
    room = RoomFactory()
    for n in range(lines):
        message_ingest(draft=draft_parse(bot_draft(room=room, handle=handle, text=f"line {n}: the boss is at low health")))
    convo = Conversation.objects.get(room=room)
    backdate(convo, idle)
    return convo


def backdate(convo: Conversation, idle: timedelta) -> None:
    Conversation.objects.filter(pk=convo.pk).update(last_message_at=timezone.now() - idle)


def add_lines(convo: Conversation, count: int) -> Conversation:
    """New messages in the SAME conversation (the gateway would start a new one after a long pause)."""
    Conversation.objects.filter(pk=convo.pk).update(last_message_at=timezone.now())
    for n in range(count):
        message_ingest(draft=draft_parse(bot_draft(room=convo.room, handle="mo", text=f"late line {n}: again!")))
    convo.refresh_from_db()
    assert convo.ended_at is None and convo.messages.count() >= count
    return convo


def memory_of(convo: Conversation, *, covered: int) -> ConversationMemory:
    return ConversationMemory.objects.create(conversation=convo, data={"summary": "old"}, covered_last_seq=covered)


def wait_job(job_id: str):
    return wait_for(
        lambda: (p := conversation_memories_job_progress(job_id=job_id)) and p.finished and p,
        timeout=JOB_TIMEOUT,
        message=f"batch job {job_id} to finish",
    )


# --- selection -----------------------------------------------------------------------------------


def test_it_selects_only_inactive_conversations_without_an_up_to_date_memory():
    new = conversation()
    recent = conversation(idle=timedelta(minutes=30))
    covered = conversation()
    memory_of(covered, covered=covered.last_seq)
    behind = conversation()
    memory_of(behind, covered=behind.last_seq - 1)
    ended = conversation()
    Conversation.objects.filter(pk=ended.pk).update(ended_at=timezone.now() - timedelta(hours=2))

    found = list(conversations_needing_memory(inactive_for=TWO_HOURS).values_list("pk", flat=True))

    assert found == sorted([new.pk, behind.pk, ended.pk])
    assert recent.pk not in found and covered.pk not in found


def test_it_parses_inactivity_durations_and_refuses_bad_ones():
    assert duration_parse("2h") == timedelta(hours=2)
    assert duration_parse("90m") == timedelta(minutes=90)
    assert duration_parse("3600s") == timedelta(hours=1)
    assert duration_parse("1.5d") == timedelta(hours=36)
    for bad in ("", "2", "h", "-1h", "2 hours", "2w"):
        with pytest.raises(Exception, match="invalid duration"):
            duration_parse(bad)


def test_it_enqueues_nothing_on_a_dry_run(monkeypatch):
    convo = conversation()
    sent: list = []
    monkeypatch.setattr(Celery, "send_task", lambda *args, **kwargs: sent.append(args))
    out = io.StringIO()

    call_command("generate_memories", "--dry-run", "--inactive-for", "2h", stdout=out)

    assert f"1 conversation needs a memory (inactive for more than 2h): {convo.pk}" in out.getvalue()
    assert "dry run: nothing enqueued" in out.getvalue()
    assert sent == []
    assert list(redis_lib.Redis.from_url(os.environ["REDIS_URL"]).scan_iter("chatter:convmem:job:*")) == []


def test_it_refuses_a_bad_inactivity_threshold_with_a_clear_error():
    with pytest.raises(CommandError, match=r"invalid duration '2 hours': use a number and a unit, e\.g\. 2h"):
        call_command("generate_memories", "--inactive-for", "2 hours", stdout=io.StringIO())


def test_it_enqueues_one_job_for_all_conversations(monkeypatch):
    convos = [conversation() for _ in range(3)]
    sent: list[tuple] = []
    monkeypatch.setattr(Celery, "send_task", lambda app, name, args=None, kwargs=None, **options: sent.append((name, args, options)))

    ids, job_id = conversation_memories_enqueue(inactive_for=TWO_HOURS)

    assert ids == [c.pk for c in convos]
    # Celery carries the batch job's id only; its conversation ids are on the row.
    assert sent == [("chatter_site.jobs.tasks.job_run_task", [int(job_id)], {"queue": "reflection"})]
    progress = conversation_memories_job_progress(job_id=job_id)
    assert (progress.total, progress.processed, progress.finished) == (3, 0, False)


# --- the batch on a real worker --------------------------------------------------------------------


def test_it_writes_every_memory_in_one_job_on_a_real_worker(worker, llm_server):
    convos = [conversation(lines=4), conversation(lines=2)]

    ids, job_id = conversation_memories_enqueue(inactive_for=TWO_HOURS)
    progress = wait_job(job_id)

    assert ids == [c.pk for c in convos]
    assert (progress.done, progress.failed, progress.skipped) == (2, 0, 0)
    for convo in convos:
        memory = ConversationMemory.objects.get(conversation=convo)
        ConversationMemoryData.model_validate(memory.data)
        assert memory.data["summary"]
        assert memory.covered_last_seq == convo.last_seq
    # The worker asked the model once per conversation, for structured outputs, with the history as data.
    asks = [r for r in llm_server.chat_requests if "<<conversation>>" in r.text_of("user")]
    assert len(asks) == 2
    assert all(r.body.get("response_format", {}).get("type") == "json_schema" for r in asks)
    assert "All 4 messages are below." in asks[0].text_of("user")


def test_it_isolates_a_failing_conversation_and_a_rerun_does_only_what_is_missing(worker, llm_server):
    first, broken, third = conversation(), conversation(), conversation()
    # One answer per request, in id order: the second conversation gets junk twice (the ask and
    # its one re-ask), the third the server's own composed answer.
    llm_server.set_mode(script=[SCRIPTED, "not json", "not json"])

    _, job_id = conversation_memories_enqueue(inactive_for=TWO_HOURS)
    progress = wait_job(job_id)

    assert (progress.done, progress.failed, progress.skipped) == (2, 1, 0)
    assert progress.failed_ids == [broken.pk]
    assert ConversationMemory.objects.get(conversation=first).data["summary"].startswith("The boss fight went wrong")
    assert ConversationMemory.objects.filter(conversation=third).exists()
    assert not ConversationMemory.objects.filter(conversation=broken).exists()

    ids, job_id = conversation_memories_enqueue(inactive_for=TWO_HOURS)
    progress = wait_job(job_id)

    assert ids == [broken.pk]
    assert (progress.done, progress.failed) == (1, 0)
    assert ConversationMemory.objects.count() == 3


def test_it_rewrites_a_memory_when_new_messages_arrive_and_keeps_one_row(worker):
    convo = conversation(lines=2)
    _, job_id = conversation_memories_enqueue(inactive_for=TWO_HOURS)
    wait_job(job_id)
    before = ConversationMemory.objects.get(conversation=convo)

    convo = add_lines(convo, 3)
    backdate(convo, timedelta(hours=3))
    ids, job_id = conversation_memories_enqueue(inactive_for=TWO_HOURS)
    progress = wait_job(job_id)

    assert ids == [convo.pk]
    assert progress.done == 1
    after = ConversationMemory.objects.get(conversation=convo)
    assert after.pk == before.pk
    assert after.covered_last_seq == convo.last_seq > before.covered_last_seq
    assert after.updated_at > before.updated_at
    assert after.created_at == before.created_at
    assert ConversationMemory.objects.filter(conversation=convo).count() == 1


def test_it_does_nothing_when_everything_is_covered(worker):
    conversation()
    _, job_id = conversation_memories_enqueue(inactive_for=TWO_HOURS)
    wait_job(job_id)

    ids, job_id = conversation_memories_enqueue(inactive_for=TWO_HOURS)

    assert (ids, job_id) == ([], None)


def test_it_skips_covered_or_missing_conversations_inside_a_batch(llm_server):
    covered = conversation()
    memory_of(covered, covered=covered.last_seq)
    fresh = conversation()

    counts = conversation_memories_batch(conversation_ids=[covered.pk, 999_999, fresh.pk])

    assert counts == {"done": 1, "failed": 0, "skipped": 2}
    assert ConversationMemory.objects.get(conversation=covered).data == {"summary": "old"}


def test_it_caps_a_long_history_and_says_so_in_the_prompt(llm_server, monkeypatch):
    monkeypatch.setattr("memory.services.conversations.HISTORY_CAP", 5)
    convo = conversation(lines=8)

    assert conversation_memories_batch(conversation_ids=[convo.pk]) == {"done": 1, "failed": 0, "skipped": 0}

    prompt = llm_server.chat_requests[-1].text_of("user")
    assert "The conversation has 8 messages; only the last 5 are below" in prompt
    assert "line 2:" not in prompt and "line 3:" in prompt and "line 7:" in prompt


def test_it_counts_a_conversation_whose_load_raises_as_failed_and_goes_on(llm_server, monkeypatch):
    good, bad = conversation(), conversation()
    real = conversations_module._history

    def history(*, conversation, up_to_seq):
        if conversation.pk == bad.pk:
            raise RuntimeError("disk on fire")
        return real(conversation=conversation, up_to_seq=up_to_seq)

    monkeypatch.setattr("memory.services.conversations._history", history)

    assert conversation_memories_batch(conversation_ids=[bad.pk, good.pk]) == {"done": 1, "failed": 1, "skipped": 0}
    assert ConversationMemory.objects.filter(conversation=good).exists()


def test_the_command_waits_for_the_job_and_prints_progress(worker):
    convos = [conversation(), conversation()]
    out = io.StringIO()

    call_command("generate_memories", "--inactive-for", "90m", "--wait", "--timeout", str(JOB_TIMEOUT), stdout=out)

    text = out.getvalue()
    assert f"2 conversations need a memory (inactive for more than 90m): {convos[0].pk}, {convos[1].pk}" in text
    assert "enqueued batch job" in text
    assert "processed 2/2: done 2, failed 0, skipped 0" in text
    assert "finished: 2 written, 0 skipped" in text
