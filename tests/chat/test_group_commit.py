"""People's sends group-committed per room (chat.ingest): gap-free seqs and idempotent client_ids
within one batch, under concurrent senders on two Daphne processes (and a bot producer in a third),
and a PostgreSQL outage refused `unavailable` with nothing stored."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
import websockets
from channels.db import database_sync_to_async
from django.db import connection
from django.test import Client
from django.utils import timezone

from chat.ingest import SessionCheck, SessionEnded, messages_ingest_human_batch
from chat.models import Message, Room
from chat.services import draft_parse, human_draft, message_ingest
from chatter_site.lib.errors import ChatterError
from tests.factories import RoomFactory, UserFactory, bot_draft
from tests.support.flaky_proxy import FlakyProxy
from tests.support.processes import start_daphne

pytestmark = [pytest.mark.django_db(transaction=True)]


def _drafts(room, sends):
    return [human_draft(user=user, room_slug=room.slug, text=text, client_id=client_id) for user, text, client_id in sends]


def test_it_stores_a_batch_with_consecutive_seqs_and_one_message_per_client_id():
    room = RoomFactory()
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    message_ingest(draft=draft_parse(bot_draft(room=room, text="before the batch")))
    earlier = messages_ingest_human_batch(
        room_slug=room.slug, drafts=_drafts(room, [(bob, "sent before", "b-0")]), user_ids=[bob.pk]
    )[0]
    sends = [(alice, "one", "a-1"), (bob, "again", "b-0"), (alice, "one, resent", "a-1"), (carol, "two", "c-1"),
             (alice, "three", "a-2")]
    outcomes = messages_ingest_human_batch(
        room_slug=room.slug, drafts=_drafts(room, sends), user_ids=[user.pk for user, _, _ in sends]
    )
    assert [o["seq"] for o in outcomes] == [3, 2, 3, 4, 5]
    assert outcomes[1] == earlier and outcomes[2] == outcomes[0] and outcomes[0]["text"] == "one"
    assert list(Message.objects.filter(room=room).order_by("seq").values_list("seq", flat=True)) == [1, 2, 3, 4, 5]
    assert Room.objects.get(pk=room.pk).last_seq == 5
    assert room.conversations.get().message_count == 5


def test_it_opens_a_new_conversation_when_the_last_went_idle():
    room = RoomFactory()
    alice = UserFactory()
    first = messages_ingest_human_batch(room_slug=room.slug, drafts=_drafts(room, [(alice, "hi", "a-1")]), user_ids=[alice.pk])
    room.conversations.update(last_message_at=timezone.now() - timedelta(hours=3))
    sends = [(alice, "back again", "a-2"), (alice, "anyone?", "a-3")]
    outcomes = messages_ingest_human_batch(room_slug=room.slug, drafts=_drafts(room, sends), user_ids=[alice.pk] * 2)
    assert [first[0]["seq"]] + [o["seq"] for o in outcomes] == [1, 2, 3]
    old, new = room.conversations.order_by("first_seq")
    assert (old.first_seq, old.last_seq, old.ended_at is not None) == (1, 1, True)
    assert (new.first_seq, new.last_seq, new.message_count, new.ended_at) == (2, 3, 2, None)
    assert set(Message.objects.filter(seq__gte=2).values_list("conversation_id", flat=True)) == {new.pk}


def test_it_refuses_within_a_batch_without_spending_a_seq(settings):
    settings.CHAT_RATE_LIMIT_COUNT = 1
    room = RoomFactory()
    alice, bob, gone = UserFactory(), UserFactory(), UserFactory(is_active=False)
    sends = [(alice, "first", "a-1"), (alice, "second", "a-2"), (gone, "hello", "g-1"), (bob, "hi", "b-1")]
    outcomes = messages_ingest_human_batch(
        room_slug=room.slug, drafts=_drafts(room, sends), user_ids=[user.pk for user, _, _ in sends]
    )
    assert outcomes[0]["seq"] == 1 and outcomes[3]["seq"] == 2
    assert isinstance(outcomes[1], ChatterError) and outcomes[1].code == "rate_limited"
    assert isinstance(outcomes[2], ChatterError) and outcomes[2].code == "auth_required"
    assert list(Message.objects.filter(room=room).values_list("seq", flat=True)) == [1, 2]


def test_it_rechecks_the_due_sessions_of_a_batch_at_once():
    room = RoomFactory()
    alice, bob = UserFactory(), UserFactory()
    sessions = []
    for user in (alice, bob):
        client = Client()
        client.force_login(user)
        sessions.append(SessionCheck(client.session.session_key))
    bob.set_password("a-new-password-entirely")
    bob.save()  # bob's session was signed in with the old password
    sends = [(alice, "still here", "a-1"), (bob, "me too", "b-1"), (bob, "not rechecked", "b-2")]
    outcomes = messages_ingest_human_batch(
        room_slug=room.slug, drafts=_drafts(room, sends), user_ids=[alice.pk, bob.pk, bob.pk],
        sessions=[sessions[0], sessions[1], None],
    )
    assert outcomes[0]["seq"] == 1 and isinstance(outcomes[1], SessionEnded) and outcomes[2]["seq"] == 2
    assert list(Message.objects.filter(room=room).values_list("client_id", flat=True)) == ["a-1", "b-2"]


# --- over real processes --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def proxied_daphne(process_env, log_dir, test_database_url):
    """A second Daphne whose PostgreSQL connections go through a proxy the test can switch off."""
    parts = urlsplit(test_database_url)
    proxy = FlakyProxy(parts.port or 5432)
    url = urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0] + f":{proxy.port}"))
    env = {**process_env, "DATABASE_URL": url, "CHATTER_DB_CONN_MAX_AGE": "60"}
    process, base = start_daphne(env, log_dir)
    yield base, proxy
    process.stop()
    proxy.close()


def _cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def _open(base: str, room, cookie: str | None = None):
    socket = await websockets.connect(
        base.replace("http://", "ws://") + f"/ws/rooms/{room.slug}/", origin=base,
        additional_headers={"Cookie": cookie} if cookie else {}, max_size=2**24, open_timeout=20,
    )
    hello = json.loads(await asyncio.wait_for(socket.recv(), 20))
    assert hello["type"] == "hello"
    return socket


class Reader:
    """Everything one socket receives: seqs in order of arrival, and the answers to its sends."""

    def __init__(self, socket) -> None:
        self.socket = socket
        self.seqs: list[int] = []
        self.acked: dict[str, int] = {}
        self.refused: dict[str, str] = {}
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.socket:
            frame = json.loads(raw)
            if frame["type"] == "messages":
                for item in frame["items"]:
                    self.seqs.append(item["seq"])
                    if item.get("client_id"):
                        self.acked[item["client_id"]] = item["seq"]
            elif frame["type"] == "error":
                self.refused[frame.get("client_id", "")] = frame["code"]

    async def until(self, predicate, timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.socket.close()
        self.task.cancel()


@pytest.mark.asyncio
@pytest.mark.slow
async def test_it_keeps_seqs_gap_free_and_client_ids_once_under_senders_on_two_processes(live_daphne, proxied_daphne):
    base_b, _proxy = proxied_daphne
    room = await database_sync_to_async(RoomFactory)()
    users = [await database_sync_to_async(UserFactory)() for _ in range(16)]
    cookies = [await database_sync_to_async(_cookie)(user) for user in users]
    # Each person holds a socket on each process and sends every message on both at once (a resend
    # after reconnecting elsewhere): two client_ids each, four sends, under the default rate limit.
    pairs = [(Reader(await _open(live_daphne, room, c)), Reader(await _open(base_b, room, c))) for c in cookies]
    watchers = [Reader(await _open(base, room)) for base in (live_daphne, base_b)]

    def bot_lines() -> None:  # a third process's producer on the same room row, meanwhile
        try:
            for n in range(30):
                message_ingest(draft=draft_parse(bot_draft(room=room, text=f"bot line {n}", client_id=f"bot-{n}")))
        finally:
            connection.close()  # this executor thread's own connection, or the test database stays in use

    bots = asyncio.get_running_loop().run_in_executor(None, bot_lines)
    for k in range(2):
        await asyncio.gather(*(
            reader.socket.send(json.dumps({"type": "send", "text": f"{u} says {k}", "client_id": f"u{u}-{k}"}))
            for u, pair in enumerate(pairs) for reader in pair
        ))
    await bots
    sent = {f"u{u}-{k}" for u in range(len(pairs)) for k in range(2)}
    for u, pair in enumerate(pairs):
        mine = {f"u{u}-0", f"u{u}-1"}
        for reader in pair:  # every send answered: the echo with its client_id, or a refusal
            await reader.until(lambda r=reader, mine=mine: mine <= set(r.acked) | set(r.refused))
            assert not reader.refused, reader.refused
    total = len(sent) + 30
    rows = await database_sync_to_async(
        lambda: list(Message.objects.filter(room=room).order_by("seq").values_list("seq", "client_id"))
    )()
    assert [seq for seq, _ in rows] == list(range(1, total + 1))
    assert {cid for _, cid in rows} == sent | {f"bot-{n}" for n in range(30)}
    by_client_id = dict((cid, seq) for seq, cid in rows)
    for pair in pairs:
        for reader in pair:
            assert all(by_client_id[cid] == seq for cid, seq in reader.acked.items())
    for reader in watchers + [r for pair in pairs for r in pair]:
        await reader.until(lambda r=reader: len(r.seqs) >= total)
        assert reader.seqs == list(range(1, total + 1))
    for reader in watchers + [r for pair in pairs for r in pair]:
        await reader.close()


@pytest.mark.asyncio
@pytest.mark.slow
async def test_it_refuses_a_send_during_a_postgresql_outage_with_nothing_stored(proxied_daphne):
    base, proxy = proxied_daphne
    room = await database_sync_to_async(RoomFactory)()
    user = await database_sync_to_async(UserFactory)()
    reader = Reader(await _open(base, room, await database_sync_to_async(_cookie)(user)))
    await reader.socket.send(json.dumps({"type": "send", "text": "before", "client_id": "pg-0"}))
    await reader.until(lambda: "pg-0" in reader.acked)
    proxy.down()
    try:
        await reader.socket.send(json.dumps({"type": "send", "text": "during", "client_id": "pg-1"}))
        await reader.until(lambda: "pg-1" in reader.refused)
        assert reader.refused["pg-1"] == "unavailable" and "pg-1" not in reader.acked
        assert await database_sync_to_async(Message.objects.filter(room=room).count)() == 1
    finally:
        proxy.up()
    await reader.socket.send(json.dumps({"type": "send", "text": "during", "client_id": "pg-1"}))  # the page's resend
    await reader.until(lambda: "pg-1" in reader.acked)
    assert reader.acked == {"pg-0": 1, "pg-1": 2}
    assert await database_sync_to_async(Message.objects.filter(room=room).count)() == 2
    await reader.close()


@pytest.mark.asyncio
@pytest.mark.slow
async def test_it_serves_every_viewer_every_message_through_haproxy_in_front_of_two_daphnes(
    live_daphne, proxied_daphne, tmp_path
):
    import subprocess
    import urllib.request

    from chatter_site.lib.runner.haproxy import haproxy_command, haproxy_config, haproxy_executable
    from tests.support.processes import free_port

    ports = [int(base.rsplit(":", 1)[1]) for base in (live_daphne, proxied_daphne[0])]
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(bind="127.0.0.1", port=port, backends=[("127.0.0.1", p) for p in ports]))
    balancer = subprocess.Popen(haproxy_command(executable=haproxy_executable(), config_path=config),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        async with asyncio.timeout(30):
            while True:
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    await asyncio.sleep(0.1)
        room = await database_sync_to_async(RoomFactory)()
        users = [await database_sync_to_async(UserFactory)() for _ in range(3)]
        senders = [Reader(await _open(base, room, await database_sync_to_async(_cookie)(u))) for u in users]
        watchers = [Reader(await _open(base, room)) for _ in range(5)]
        for k in range(4):
            for n, sender in enumerate(senders):
                await sender.socket.send(json.dumps({"type": "send", "text": f"{n}:{k}", "client_id": f"lb-{n}-{k}"}))
        for reader in senders + watchers:
            await reader.until(lambda r=reader: len(r.seqs) >= 12)
            assert reader.seqs == list(range(1, 13))
        for reader in senders + watchers:
            await reader.close()
    finally:
        balancer.terminate()
        balancer.wait(timeout=10)
