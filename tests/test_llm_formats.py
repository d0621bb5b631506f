"""Real models' ways with JSON, through the openai client over HTTP to the local test server: an
endpoint that refuses structured outputs (400 naming the parameter, or llama-cpp-python's bare
500), one that ignores response_format and answers prose around almost-valid JSON, one that
refuses JSON mode too; and what is remembered per endpoint, in this process and in Redis."""
from __future__ import annotations

import json
from typing import Literal

import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel, Field

from chatter_site.lib import llm_formats
from chatter_site.lib.errors import ChatterError
from chatter_site.lib.llm import llm_failures_recent, llm_json, llm_json_formats_known, prompt_block
from chatter_site.lib.llm_formats import FORMATS, json_extract, strict_schema
from chatter_site.lib.redis import redis_client
from tests.support.llm_server import LLMTestServer


class Memo(BaseModel):
    kind: Literal["relationship", "preference"]
    text: str = Field(max_length=300)
    confidence: float = Field(ge=0, le=1)
    tags: list[str] = Field(default_factory=list)


class Outer(BaseModel):
    memos: list[Memo]
    note: str = ""


MESSAGES = [
    {"role": "system", "content": "Extract one durable memory from the chat."},
    {"role": "user", "content": prompt_block(name="chat", data=[{"author": "bob", "text": "I love speedruns.", "origin": "human"}])},
]


def formats_sent(server: LLMTestServer) -> list[str]:
    return [(r.body.get("response_format") or {}).get("type", "text") for r in server.chat_requests]


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_it_asks_for_strict_structured_outputs_built_from_the_schema(llm_server: LLMTestServer) -> None:
    llm_json(messages=MESSAGES, schema=Memo, purpose="fmt-strict")

    [request] = llm_server.chat_requests
    wanted = request.body["response_format"]
    assert wanted["type"] == "json_schema"
    assert wanted["json_schema"]["name"] == "Memo" and wanted["json_schema"]["strict"] is True
    schema = wanted["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["kind", "text", "confidence", "tags"]
    assert "default" not in json.dumps(schema) and "maxLength" not in json.dumps(schema)
    assert schema["properties"]["kind"]["enum"] == ["relationship", "preference"]


def test_it_closes_nested_objects_in_the_strict_schema() -> None:
    schema = strict_schema(Outer)

    memo = schema["$defs"]["Memo"]
    assert memo["additionalProperties"] is False and set(memo["required"]) == {"kind", "text", "confidence", "tags"}
    assert schema["required"] == ["memos", "note"]


@pytest.mark.parametrize("status", [400, 500])
def test_it_falls_back_to_json_mode_when_structured_outputs_are_refused(llm_server: LLMTestServer, status: int, caplog) -> None:
    llm_server.set_mode(refuse_formats=("json_schema",), refuse_status=status)
    purpose = f"fmt-refused-{status}"

    memo = llm_json(messages=MESSAGES, schema=Memo, purpose=purpose)

    assert isinstance(memo, Memo) and "speedruns" in memo.text
    assert formats_sent(llm_server) == ["json_schema", "json_object"]
    labels = {"purpose": purpose, "from_format": "json_schema", "to_format": "json_object", "reason": f"http_{status}"}
    assert sample("chatter_llm_format_fallbacks_total", labels) == 1
    assert "llm json format fallback" in caplog.text and "to=json_object" in caplog.text
    # Remembered: the next call goes straight to JSON mode, and Redis tells the other processes.
    llm_json(messages=MESSAGES, schema=Memo, purpose=purpose)
    assert formats_sent(llm_server)[2:] == ["json_object"]
    [(endpoint, known)] = llm_json_formats_known().items()
    assert endpoint.startswith(llm_server.base_url) and known["format"] == "json_object"


def test_it_shares_what_it_learnt_with_other_processes_through_redis(llm_server: LLMTestServer) -> None:
    llm_server.set_mode(refuse_formats=("json_schema",), refuse_status=400)
    llm_json(messages=MESSAGES, schema=Memo, purpose="fmt-shared")
    fresh = llm_formats.FormatMemory()  # another process: nothing known locally, so it reads Redis
    [endpoint] = llm_json_formats_known()

    assert fresh.get(endpoint) == "json_object"


def test_it_falls_back_to_plain_text_when_json_mode_is_refused_too(llm_server: LLMTestServer) -> None:
    llm_server.set_mode(refuse_formats=("json_schema", "json_object"), refuse_status=400)

    memo = llm_json(messages=MESSAGES, schema=Memo, purpose="fmt-text")

    assert "speedruns" in memo.text
    assert formats_sent(llm_server) == ["json_schema", "json_object", "text"]
    assert "<<json-schema>>" in llm_server.chat_requests[-1].text_of("system")  # the schema is still in the prompt
    assert sample("chatter_llm_json_answers_total", {"purpose": "fmt-text", "format": "text", "repaired": "false"}) == 1


def test_it_reads_almost_valid_json_from_a_model_that_ignores_the_format(llm_server: LLMTestServer) -> None:
    llm_server.set_mode(ignore_format=True)

    memo = llm_json(messages=MESSAGES, schema=Memo, purpose="fmt-ignored")

    assert "speedruns" in memo.text
    assert len(llm_server.chat_requests) == 1  # no re-ask: the answer was usable
    assert sample("chatter_llm_json_answers_total", {"purpose": "fmt-ignored", "format": "json_schema", "repaired": "true"}) == 1
    assert formats_sent(llm_server) == ["json_schema"]  # ignoring is not refusing: nothing to remember
    assert llm_json_formats_known() == {}


def test_it_does_not_fall_back_when_the_endpoint_is_simply_down(llm_server: LLMTestServer) -> None:
    llm_server.set_mode(fail_status=500)

    with pytest.raises(ChatterError) as caught:
        llm_json(messages=MESSAGES, schema=Memo, purpose="fmt-down")

    assert caught.value.code == "unavailable"
    assert llm_json_formats_known() == {}
    # One JSON-mode probe after the first 500, then none for a while: a down endpoint is not hammered.
    assert formats_sent(llm_server) == ["json_schema", "json_object", "json_schema"]
    assert llm_failures_recent(limit=1)[0]["purpose"] == "fmt-down"


def test_it_does_not_fall_back_on_a_refusal_about_something_else(llm_server: LLMTestServer) -> None:
    llm_server.set_mode(fail_status=401)

    with pytest.raises(ChatterError):
        llm_json(messages=MESSAGES, schema=Memo, purpose="fmt-401")

    assert formats_sent(llm_server) == ["json_schema"]
    assert llm_json_formats_known() == {}


def test_it_keeps_the_fallback_when_redis_is_down(llm_server: LLMTestServer, monkeypatch) -> None:
    monkeypatch.setattr(llm_formats, "_redis", lambda: None)
    llm_server.set_mode(refuse_formats=("json_schema",), refuse_status=400)

    llm_json(messages=MESSAGES, schema=Memo, purpose="fmt-noredis")
    llm_json(messages=MESSAGES, schema=Memo, purpose="fmt-noredis")

    assert formats_sent(llm_server) == ["json_schema", "json_object", "json_object"]
    assert not redis_client().exists(llm_formats.REDIS_KEY)


def test_it_still_refuses_json_that_never_matches(llm_server: LLMTestServer) -> None:
    llm_server.set_mode(ignore_format=True, script=['Sure: {"kind": "gossip", "text": "x", "confidence": 2,}', "no json here"])

    with pytest.raises(ChatterError) as caught:
        llm_json(messages=MESSAGES, schema=Memo, purpose="fmt-never")

    assert caught.value.code == "invalid"
    assert len(llm_server.chat_requests) == 2  # the answer and one re-ask


@pytest.mark.parametrize(
    ("answer", "expected", "repaired"),
    [
        ('{"a": 1}', {"a": 1}, False),
        ('Here is the updated JSON:\n{"a": [1, 2,],}\nThanks!', {"a": [1, 2]}, True),
        ('```json\n{"a": "fence"}\n```', {"a": "fence"}, True),
        ('Note {this} first. {"a": "brace } in a string, and a comma,]"}', {"a": "brace } in a string, and a comma,]"}, True),
        ('{"a": 1}\n{"b": 2}', {"a": 1}, True),
    ],
)
def test_it_extracts_the_first_complete_object(answer: str, expected: dict, repaired: bool) -> None:
    text, was_repaired = json_extract(answer)

    assert json.loads(text) == expected and was_repaired is repaired


@pytest.mark.parametrize("answer", ['{"a": 1, "b": [1, 2', "no json at all", "[1, 2, 3]"])
def test_it_refuses_truncated_or_missing_objects(answer: str) -> None:
    with pytest.raises(ValueError):
        json_extract(answer)


def test_it_forgets_what_it_learnt_when_told(llm_server: LLMTestServer) -> None:
    llm_server.set_mode(refuse_formats=("json_schema",), refuse_status=400)
    llm_json(messages=MESSAGES, schema=Memo, purpose="fmt-forget")

    FORMATS.forget()

    assert llm_json_formats_known() == {}
    assert FORMATS.get(f"{llm_server.base_url}|any-model") == "json_schema"


def test_it_does_not_reask_when_the_answer_was_cut_at_max_tokens(llm_server: LLMTestServer) -> None:
    # The provider cuts a non-JSON-mode answer at max_tokens words and says "length": plain text mode.
    llm_server.set_mode(refuse_formats=("json_schema", "json_object"), script=['{"kind": "preference", "text": "bob likes ' + "very " * 50 + 'long runs"}'])

    with pytest.raises(ChatterError) as caught:
        llm_json(messages=MESSAGES, schema=Memo, purpose="fmt-cut", max_tokens=20)

    assert caught.value.code == "invalid" and "cut at max_tokens" in caught.value.message
    assert formats_sent(llm_server) == ["json_schema", "json_object", "text"]  # no re-ask after the cut answer
