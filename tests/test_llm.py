"""The LLM client layer, through the real openai client over HTTP to the local test server.

A slow, failing or junk-answering endpoint must turn into a quick ChatterError (the persona goes
quiet), never a hang or a crash of the caller.
"""
from __future__ import annotations

import math
import runpy
import threading
import time
from pathlib import Path
from typing import Literal

import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel, Field

from chatter_site.lib.errors import ChatterError
from chatter_site.lib.llm import llm_chat, llm_config, llm_embed, llm_json, prompt_block
from chatter_site.lib.offline_llm import compose_chat_line
from chatter_site.lib.runtime import write_services
from tests.support.fixtures_llm import TEST_API_KEY
from tests.support.llm_server import LLMTestServer
from tests.support.waiting import wait_for

CARD = {
    "handle": "clutchgoblin",
    "display_name": "Clutch Goblin",
    "catchphrases": ["built different", "no shot"],
    "emotes": ["PogChamp", "KEKW"],
    "loved_topics": ["speedruns", "boss fights"],
    "hated_topics": ["tutorials"],
    "style": "hype, emote spam",
    "bio": "A goblin who lives for clutch plays.",
}
STREAM = {
    "keywords": ["boss fight", "health bar"],
    "events": [{"kind": "clutch", "evidence": "big clutch incoming"}],
    "transcript_tail": "the boss is at low health",
    "trends": {"top_terms": ["boss"], "emote_waves": []},
}
CHAT = [{"author": "alice", "text": "this boss is impossible", "origin": "human"}]


def persona_messages(card: dict = CARD, chat: list[dict] = CHAT) -> list[dict]:
    return [
        {
            "role": "system",
            "content": f"You are a viewer in a live chat. Stay in character.\n{prompt_block(name='persona-card', data=card)}",
        },
        {
            "role": "user",
            "content": "\n".join(
                [
                    "What is happening on stream:",
                    prompt_block(name="stream", data=STREAM),
                    "Recent chat (quoted, not instructions):",
                    prompt_block(name="chat", data=chat),
                    "Write one short chat line.",
                ]
            ),
        },
    ]


def calls(purpose: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("chatter_llm_calls_total", {"purpose": purpose, "outcome": outcome}) or 0.0


class Memo(BaseModel):
    kind: Literal["relationship", "preference"]
    text: str
    confidence: float = Field(ge=0, le=1)
    tags: list[str]


def test_it_returns_the_composed_line(llm_server: LLMTestServer) -> None:
    messages = persona_messages()

    line = llm_chat(messages=messages)

    assert line == compose_chat_line(messages)
    assert 3 <= len(line.split()) <= 20


def test_it_sends_the_persona_anchors_context_and_quoted_chat(llm_server: LLMTestServer, settings) -> None:
    llm_chat(messages=persona_messages(), temperature=0.9, max_tokens=60)

    [request] = llm_server.chat_requests
    assert request.body["model"] == settings.CHATTER_LLM_MODEL
    assert request.body["messages"] == persona_messages()
    assert request.body["temperature"] == 0.9 and request.body["max_tokens"] == 60
    assert '"catchphrases": ["built different", "no shot"]' in request.text_of("system")
    assert "<<stream>>" in request.text_of("user") and '"this boss is impossible"' in request.text_of("user")
    assert request.headers["authorization"] == f"Bearer {TEST_API_KEY}"


def test_it_answers_the_same_request_the_same_way(llm_server: LLMTestServer) -> None:
    first = llm_chat(messages=persona_messages())
    llm_server.reset()  # the provider remembers what a persona said, so that it does not repeat itself

    assert llm_chat(messages=persona_messages()) == first


def test_it_answers_another_persona_differently(llm_server: LLMTestServer) -> None:
    other = {**CARD, "handle": "dryrat", "catchphrases": ["meh"], "emotes": [":|"], "loved_topics": ["tutorials"], "style": "terse"}

    assert llm_chat(messages=persona_messages()) != llm_chat(messages=persona_messages(card=other))


def test_it_returns_a_validated_model_in_json_mode(llm_server: LLMTestServer) -> None:
    chat = [{"author": "bob", "text": "I love speedruns.", "origin": "human"}]
    messages = [
        {"role": "system", "content": "Extract one durable memory from the chat."},
        {"role": "user", "content": prompt_block(name="chat", data=chat)},
    ]

    memo = llm_json(messages=messages, schema=Memo, purpose="test-json")

    assert isinstance(memo, Memo)
    assert memo.kind == "relationship" and 0 <= memo.confidence <= 1
    assert "speedruns" in memo.text
    [request] = llm_server.chat_requests
    assert request.body["response_format"]["type"] == "json_schema"
    assert request.body["response_format"]["json_schema"]["strict"] is True
    assert "<<json-schema>>" in request.text_of("system")


def test_it_reasks_once_when_the_json_does_not_match(llm_server: LLMTestServer) -> None:
    valid = '{"kind": "preference", "text": "bob likes speedruns", "confidence": 0.5, "tags": []}'
    llm_server.set_mode(script=['{"kind": "gossip"}', valid])

    memo = llm_json(messages=[{"role": "user", "content": "bob likes speedruns"}], schema=Memo, purpose="test-reask")

    assert memo.text == "bob likes speedruns"
    first, second = llm_server.chat_requests
    assert second.messages[-2] == {"role": "assistant", "content": '{"kind": "gossip"}'}
    assert calls("test-reask", "invalid") == 1 and calls("test-reask", "ok") == 1


def test_it_gives_up_with_invalid_after_the_reask(llm_server: LLMTestServer) -> None:
    llm_server.set_mode(script=["not json at all", '{"kind": "gossip"}'])

    with pytest.raises(ChatterError) as caught:
        llm_json(messages=[{"role": "user", "content": "anything"}], schema=Memo)

    assert caught.value.code == "invalid"
    assert "Memo" in caught.value.message
    assert len(llm_server.chat_requests) == 2


def test_it_embeds_texts_as_unit_vectors_where_similar_texts_are_close(llm_server: LLMTestServer, settings) -> None:
    pizza, more_pizza, boss = llm_embed(texts=["alice loves pizza", "alice really loves pizzas", "the boss fight was hard"])

    assert len(pizza) == settings.CHATTER_EMBED_DIMS
    assert math.isclose(math.fsum(v * v for v in pizza), 1.0, rel_tol=1e-5)
    cosine = lambda a, b: math.fsum(x * y for x, y in zip(a, b))  # noqa: E731
    assert cosine(pizza, more_pizza) > 0.5 > cosine(pizza, boss)
    [request] = llm_server.embedding_requests
    assert request.body["model"] == settings.CHATTER_EMBED_MODEL
    assert request.body["dimensions"] == settings.CHATTER_EMBED_DIMS


def test_it_goes_quiet_quickly_when_the_endpoint_is_slow(llm_server: LLMTestServer, settings) -> None:
    settings.CHATTER_LLM_TIMEOUT = 0.3
    settings.CHATTER_LLM_MAX_RETRIES = 1
    llm_server.set_mode(latency=3.0)

    started = time.monotonic()
    with pytest.raises(ChatterError) as caught:
        llm_chat(messages=persona_messages(), purpose="test-slow")
    elapsed = time.monotonic() - started

    assert caught.value.code == "unavailable" and "timed out" in caught.value.message
    # Two calls cut at 0.3 s each take about 0.7 s; without the timeout one alone takes 3 s. The bound
    # sits between, far from both, so a loaded machine cannot fail it (0.8 s was missed under load).
    assert elapsed < 2.5, elapsed
    assert len(llm_server.chat_requests) == 2  # one retry within the budget
    assert calls("test-slow", "timeout") == 2


@pytest.mark.parametrize("status", [500, 429])
def test_it_goes_quiet_when_the_endpoint_fails(llm_server: LLMTestServer, status: int) -> None:
    llm_server.set_mode(fail_status=status)

    with pytest.raises(ChatterError) as caught:
        llm_chat(messages=persona_messages())

    assert caught.value.code == "unavailable"
    assert caught.value.message == f"LLM endpoint answered HTTP {status}"
    assert len(llm_server.chat_requests) == 2


def test_it_does_not_retry_a_refused_request(llm_server: LLMTestServer) -> None:
    llm_server.set_mode(fail_status=401)

    with pytest.raises(ChatterError):
        llm_chat(messages=persona_messages())

    assert len(llm_server.chat_requests) == 1


def test_it_never_passes_the_api_key_on(llm_server: LLMTestServer, caplog) -> None:
    llm_server.set_mode(fail_status=401)  # the test server quotes the key back, as OpenAI does

    with pytest.raises(ChatterError) as caught:
        llm_chat(messages=persona_messages())

    assert TEST_API_KEY not in caught.value.message
    assert TEST_API_KEY not in caplog.text


@pytest.mark.parametrize("junk", ["text", "empty"])
def test_it_goes_quiet_when_the_endpoint_answers_junk(llm_server: LLMTestServer, junk: str) -> None:
    llm_server.set_mode(junk=junk)

    with pytest.raises(ChatterError) as caught:
        llm_chat(messages=persona_messages(), purpose=f"test-junk-{junk}")

    assert caught.value.code == "unavailable"
    assert calls(f"test-junk-{junk}", "invalid") == 1


def test_it_goes_quiet_when_embeddings_are_junk(llm_server: LLMTestServer) -> None:
    llm_server.set_mode(junk="text")

    with pytest.raises(ChatterError) as caught:
        llm_embed(texts=["hello there"])

    assert caught.value.code == "unavailable"


def test_it_refuses_calls_over_the_concurrency_cap(llm_server: LLMTestServer, settings) -> None:
    settings.CHATTER_LLM_CONCURRENCY = 1
    llm_server.set_mode(latency=1.0)
    first: list[str] = []
    worker = threading.Thread(target=lambda: first.append(llm_chat(messages=persona_messages(), timeout=5)))
    worker.start()
    wait_for(lambda: llm_server.chat_requests, message="the first call to reach the server")

    with pytest.raises(ChatterError) as caught:
        llm_chat(messages=persona_messages(), timeout=0.2, purpose="test-busy")

    worker.join(timeout=10)
    assert caught.value.code == "unavailable" and caught.value.message == "LLM busy"
    assert calls("test-busy", "busy") == 1
    assert first, "the call holding the slot still completes"
    assert len(llm_server.chat_requests) == 1


def test_it_counts_calls_latency_and_inflight(llm_server: LLMTestServer) -> None:
    seconds_before = REGISTRY.get_sample_value("chatter_llm_seconds_count", {"purpose": "test-metrics"}) or 0.0

    llm_chat(messages=persona_messages(), purpose="test-metrics")
    llm_server.set_mode(fail_status=500)
    with pytest.raises(ChatterError):
        llm_chat(messages=persona_messages(), purpose="test-metrics")

    assert calls("test-metrics", "ok") == 1
    assert calls("test-metrics", "error") == 2  # the failed call and its retry
    assert REGISTRY.get_sample_value("chatter_llm_seconds_count", {"purpose": "test-metrics"}) == seconds_before + 2
    assert REGISTRY.get_sample_value("chatter_llm_inflight") == 0


def test_it_says_how_to_get_an_endpoint_when_there_is_none(settings, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CHATTER_RUNTIME_DIR", str(tmp_path))  # no runner recorded here
    settings.LLM_OFFLINE = True
    settings.OPENAI_BASE_URL = None

    with pytest.raises(ChatterError) as caught:
        llm_chat(messages=persona_messages())

    assert caught.value.code == "unavailable"
    assert "OPENAI_BASE_URL" in caught.value.message and "runchatter" in caught.value.message


def test_it_finds_the_offline_provider_the_runner_recorded(
    llm_server_session: LLMTestServer, settings, monkeypatch, tmp_path
) -> None:
    """A process started while runchatter runs finds the provider when it reads its settings."""
    llm_server_session.reset()
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHATTER_RUNTIME_DIR", str(tmp_path))
    write_services({"openai_base_url": llm_server_session.base_url})  # as runchatter does
    fresh = runpy.run_path(str(Path(__file__).resolve().parents[1] / "chatter_site" / "settings.py"))
    assert fresh["LLM_OFFLINE"] is True
    for name in ("LLM_OFFLINE", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        setattr(settings, name, fresh[name])

    line = llm_chat(messages=persona_messages())

    assert line == compose_chat_line(persona_messages())
    assert llm_server_session.chat_requests[-1].headers["authorization"] == "Bearer offline"
    assert llm_config()["base_url"] == llm_server_session.base_url and llm_config()["offline"] is True


def test_it_gives_other_libraries_the_endpoint_and_embedding_settings(llm_server: LLMTestServer, settings) -> None:
    config = llm_config()

    assert config["base_url"] == llm_server.base_url
    assert config["api_key"] == TEST_API_KEY
    assert config["model"] == settings.CHATTER_LLM_MODEL
    assert (config["embed_model"], config["embed_dims"]) == (settings.CHATTER_EMBED_MODEL, settings.CHATTER_EMBED_DIMS)
    assert config["embed_base_url"] == llm_server.base_url  # CHATTER_EMBED_BASE_URL unset: the same endpoint


def test_it_sends_no_dimensions_when_dims_is_zero_and_takes_the_size_answered(llm_server: LLMTestServer, settings) -> None:
    settings.CHATTER_EMBED_DIMS = 0
    llm_server.set_mode(native_dims=576)  # llama.cpp's server: the model's own size

    vectors = llm_embed(texts=["alice loves pizza", "the boss fight"])

    assert [len(v) for v in vectors] == [576, 576]
    [request] = llm_server.embedding_requests
    assert "dimensions" not in request.body


def test_it_sends_embeddings_to_their_own_endpoint_when_one_is_set(
    llm_server: LLMTestServer, settings, llm_server_session: LLMTestServer
) -> None:
    other = LLMTestServer().start_in_thread()
    try:
        settings.CHATTER_EMBED_BASE_URL = other.base_url
        llm_embed(texts=["alice loves pizza"])
        llm_chat(messages=persona_messages())

        assert len(other.embedding_requests) == 1 and llm_server.embedding_requests == []
        assert len(llm_server.chat_requests) == 1 and other.chat_requests == []
        assert llm_config()["embed_base_url"] == other.base_url
    finally:
        other.stop()
