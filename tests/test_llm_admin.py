"""The admin's LLM page: calls per purpose, fallbacks, remembered formats and failures, for staff."""
from __future__ import annotations

import pytest
from pydantic import BaseModel

from chatter_site.lib.errors import ChatterError
from chatter_site.lib.llm import llm_answer_refused, llm_chat, llm_json, llm_json_formats_known
from chatter_site.lib.llm_report import llm_usage
from chatter_site.lib.metrics import render_latest
from tests.support.llm_server import LLMTestServer

pytestmark = pytest.mark.django_db


class Note(BaseModel):
    text: str


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("llm_admin", "llm_admin@example.com", "pw-llm-admin")
    client.force_login(user)
    return client


def test_it_counts_calls_failures_fallbacks_and_refusals_per_purpose(llm_server: LLMTestServer) -> None:
    llm_chat(messages=[{"role": "user", "content": "hi"}], purpose="rep-line")
    llm_answer_refused(purpose="rep-line", reason="repeat")
    llm_server.set_mode(refuse_formats=("json_schema",), refuse_status=500)
    llm_json(messages=[{"role": "user", "content": "note this"}], schema=Note, purpose="rep-json")
    llm_server.set_mode(fail_status=503)
    with pytest.raises(ChatterError):
        llm_chat(messages=[{"role": "user", "content": "hi"}], purpose="rep-line")

    usage = llm_usage(render_latest().decode())

    line, json_row = usage["rep-line"], usage["rep-json"]
    assert (line.calls, line.ok, line.failures, line.refused, line.usable) == (2, 1, {"error": 1}, {"repeat": 1}, 0)
    assert line.requests == 3  # the failed call was retried once
    assert (json_row.calls, json_row.usable, json_row.usable_share) == (1, 1, 1.0)
    assert json_row.fallbacks == {"json_schema→json_object (http_500)": 1}
    assert json_row.formats == {"json_object": 1}


def test_it_shows_staff_the_llm_page_with_failures_and_formats(llm_server: LLMTestServer, superuser_client) -> None:
    llm_server.set_mode(refuse_formats=("json_schema",), refuse_status=400)
    llm_json(messages=[{"role": "user", "content": "note this"}], schema=Note, purpose="page-json")
    llm_server.set_mode(fail_status=500)
    with pytest.raises(ChatterError):
        llm_chat(messages=[{"role": "user", "content": "hi"}], purpose="page-line")

    page = superuser_client.get("/admin/llm/").content.decode()

    assert llm_server.base_url in page
    assert "page-json" in page and "json_schema→json_object (http_400)" in page
    assert "page-line" in page and "LLM endpoint answered HTTP 500" in page
    assert "<code>json_object</code>" in page
    assert 'href="/admin/llm/"' in superuser_client.get("/admin/").content.decode()
    # A superuser can make every endpoint be asked for structured outputs again.
    superuser_client.post("/admin/llm/")
    assert llm_json_formats_known() == {}


def test_it_keeps_the_llm_page_from_viewers(client, django_user_model) -> None:
    client.force_login(django_user_model.objects.create_user("viewer_llm", password="pw-viewer-llm"))

    answer = client.get("/admin/llm/")

    assert answer.status_code == 302 and "/admin/login/" in answer["Location"]
