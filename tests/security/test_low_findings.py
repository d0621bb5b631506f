"""The review's low findings, one behaviour each (issue 14)."""
from __future__ import annotations

import ipaddress

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


# --- /metrics ------------------------------------------------------------------------------------------
def test_it_refuses_metrics_to_a_remote_client_behind_a_local_proxy(settings):
    settings.METRICS_TOKEN = "metrics-token"
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.0/8")]
    proxied = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert Client().get("/metrics", **proxied).status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token", **proxied).status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200  # the host itself


def test_it_answers_403_not_500_to_a_non_ascii_bearer(settings):
    settings.METRICS_TOKEN = "metrics-token"
    response = Client(raise_request_exception=False).get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer tökén".encode().decode("latin-1")
    )
    assert response.status_code == 403


# --- a moderator's regex rule ---------------------------------------------------------------------------
def test_it_bounds_the_time_a_backtracking_regex_rule_takes():
    import threading

    from chat.safety import BlockRule, safety_check

    rules = (BlockRule(term="(a|aa)+$", match="regex", action="drop"),)
    results = []
    worker = threading.Thread(target=lambda: results.append(safety_check("a" * 60 + "!", origin="human", rules=rules)), daemon=True)
    worker.start()
    worker.join(timeout=20)  # without a time limit: 2**40 steps, hours
    assert results, "the gate stalled on a backtracking rule"
    assert results[0].action == "drop"  # fail closed: a message that stalls a drop rule is not let through
    assert safety_check("hello there", origin="human", rules=rules).action == "allow"


def test_it_refuses_to_save_a_regex_rule_with_nested_quantifiers():
    from django.core.exceptions import ValidationError

    from chat.models import BlockedTerm

    for pattern in ("(a+)+$", r"(\w+\s?)*$", "([unclosed"):
        with pytest.raises(ValidationError) as refused:
            BlockedTerm(term=pattern, match="regex", action="drop").full_clean()
        assert "term" in refused.value.message_dict
    BlockedTerm(term=r"b[a4]d\s*w[o0]rd", match="regex", action="drop").full_clean()
