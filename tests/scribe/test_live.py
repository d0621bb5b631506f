"""The scribe over real processes: Celery workers on the "scribe" queue, Daphne, Redis, PostgreSQL,
the openai client over HTTP to the local test server. Workers get killed here."""
from __future__ import annotations

import json
import os
import signal
import time

import pytest
from websockets.sync.client import connect

from chat.models import Message, Room
from scribe import coordination, services
from scribe.models import ScribeDocument
from scribe.storage import version_read
from tests.factories import RoomFactory
from tests.scribe.helpers import assert_each_turn_once, say
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LOCK_TTL = "3"


def _socket(base_url: str, document_id: int):
    return connect(
        base_url.replace("http://", "ws://") + f"/ws/scribe/{document_id}/", origin=base_url, open_timeout=10, max_size=2**24
    )


def _frames_until(socket, predicate, timeout: float = 20.0) -> list[dict]:
    """Document payloads received until one satisfies `predicate`."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        if frame["type"] in ("hello", "document"):
            seen.append(frame["document"])
            if predicate(frame["document"]):
                return seen
    raise AssertionError(f"no matching frame within {timeout}s; saw versions {[d['version'] for d in seen]}")


def _caught_up(document: ScribeDocument, room: Room) -> bool:
    document.refresh_from_db()
    return document.cursor_seq == Room.objects.get(pk=room.pk).last_seq and document.status == "idle"


def assert_history_is_exact(document: ScribeDocument, messages: list[Message]) -> None:
    """Versions 1..N without holes; update ranges contiguous, none overlapping; every turn once."""
    document.refresh_from_db()
    revisions = list(document.revisions.order_by("version"))
    assert [r.version for r in revisions] == list(range(1, document.version + 1))
    updates = [r for r in revisions if r.kind == "update"]
    assert updates[0].first_seq == messages[0].seq
    for before, after in zip(updates, updates[1:]):
        assert after.first_seq == before.last_seq + 1, [(r.first_seq, r.last_seq) for r in updates]
    assert updates[-1].last_seq == messages[-1].seq == document.cursor_seq
    assert sum(r.turns for r in updates) == len(messages)
    assert_each_turn_once(document.content, messages)
    assert version_read(key=revisions[-1].storage_key, sha256=revisions[-1].sha256) == document.content


def test_it_grows_the_document_on_every_turn_and_pushes_it(scribe_workers, live_daphne, llm_server):
    scribe_workers()
    room = RoomFactory()
    document = services.document_start(room_slug=room.slug, title="Live chronicle", style="literary")
    messages = []
    with _socket(live_daphne, document.pk) as socket:
        assert _frames_until(socket, lambda d: True)[0]["version"] == 1
        for n in range(4):
            messages.append(say(room, f"live turn {n}: chat argues about pineapple on pizza, round {n}"))
            frames = _frames_until(socket, lambda d, text=messages[-1].text: text in d["content"])
            assert frames[-1]["version"] == n + 2  # one update per turn, versions up by one

    wait_for(lambda: _caught_up(document, room), timeout=10, message="the document to catch up")
    assert document.version == 5 and document.cursor_seq == messages[-1].seq
    assert_history_is_exact(document, messages)


def test_it_folds_a_burst_during_an_update_into_the_next_update(scribe_workers, llm_server):
    scribe_workers()
    llm_server.set_mode(latency=1.5)
    room = RoomFactory()
    document = services.document_start(room_slug=room.slug, title="Burst", style="factual")
    messages = [say(room, "the opening line before the burst")]
    wait_for(lambda: llm_server.chat_requests, timeout=15, message="the first update to be asking the LLM")

    messages += [say(room, f"burst {n} KEKW") for n in range(50)]

    wait_for(lambda: _caught_up(document, room), timeout=40, message="every turn to be folded in")
    assert_history_is_exact(document, messages)
    updates = document.revisions.filter(kind="update").count()
    assert updates <= 4, f"a burst of 50 turns took {updates} updates"
    # Updates never overlapped: each LLM request carried turns the previous ones did not.
    asked = [markers for markers in (_turn_seqs(r) for r in llm_server.chat_requests) if markers]
    flat = [seq for seqs in asked for seq in seqs]
    assert sorted(flat) == sorted(set(flat)) == [m.seq for m in messages]


def _turn_seqs(request) -> list[int]:
    from chatter_site.lib.offline_llm.prompt import read_block

    turns = read_block(request.text_of("user"), "scribe-turns") or []
    return [turn["seq"] for turn in turns]


def _holder_pid(document_id: int) -> int:
    holder = coordination.lock_holder(document_id=document_id)
    assert holder, "nobody holds the document's lock"
    return int(holder.split(":")[1])


def test_it_redoes_an_update_whose_worker_process_was_killed(scribe_workers, llm_server):
    worker = scribe_workers(CHATTER_SCRIBE_LOCK_TTL=LOCK_TTL)
    llm_server.set_mode(latency=3)
    room = RoomFactory()
    document = services.document_start(room_slug=room.slug, title="Killed", style="literary")
    messages = [say(room, f"before the crash {n}") for n in range(3)]
    wait_for(lambda: llm_server.chat_requests, timeout=15, message="an update to be waiting on the LLM")
    pid = _holder_pid(document.pk)
    assert pid != worker.proc.pid  # the pool process running the task, not the worker's main process

    os.kill(pid, signal.SIGKILL)
    messages += [say(room, f"after the crash {n}") for n in range(2)]

    wait_for(lambda: _caught_up(document, room), timeout=45, message="the killed update to be redone")
    assert_history_is_exact(document, messages)
    first_range = _turn_seqs(llm_server.chat_requests[0])
    assert any(_turn_seqs(r)[: len(first_range)] == first_range for r in llm_server.chat_requests[1:]), "no redo"


def test_a_dead_holders_lock_delays_the_update_only_until_it_runs_out(scribe_workers, llm_server):
    """A holder that died (a killed worker, a release lost in a Redis outage) neither releases the
    lock nor sees the dirty flag: the busy update must look again when that lock runs out, not a
    whole lock TTL later."""
    from chatter_site.lib.redis import redis_client
    from scribe.events import lock_key

    scribe_workers(CHATTER_SCRIBE_LOCK_TTL="30")
    room = RoomFactory()
    document = services.document_start(room_slug=room.slug, title="Orphaned lock", style="factual")
    # A plain SET, not lock_acquire: it must win even over the start's own update, as a dead holder's lock.
    redis_client().set(lock_key(document.pk), "gone-host:4242:dead", px=2000)
    messages = [say(room, f"turn {n} while the lock is orphaned") for n in range(2)]

    wait_for(lambda: _caught_up(document, room), timeout=15, message="the update once the orphaned lock ran out")
    assert_history_is_exact(document, messages)


def test_it_redoes_an_update_after_the_whole_worker_was_killed_and_another_started(scribe_workers, llm_server):
    worker = scribe_workers(CHATTER_SCRIBE_LOCK_TTL=LOCK_TTL)
    llm_server.set_mode(latency=3)
    room = RoomFactory()
    document = services.document_start(room_slug=room.slug, title="Worker lost", style="factual")
    messages = [say(room, f"turn {n} before the worker dies") for n in range(3)]
    wait_for(lambda: llm_server.chat_requests, timeout=15, message="an update to be waiting on the LLM")

    worker.kill()  # SIGKILL to the worker's whole process group, mid-update
    worker.proc.wait(timeout=10)
    document.refresh_from_db()
    assert document.version == 1 and document.status == "updating"
    scribe_workers(CHATTER_SCRIBE_LOCK_TTL=LOCK_TTL)

    wait_for(lambda: _caught_up(document, room), timeout=45, message="the update to be redone by the new worker")
    assert_history_is_exact(document, messages)
    assert ScribeDocument.objects.get(pk=document.pk).version == 2
