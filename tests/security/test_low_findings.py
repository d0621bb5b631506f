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
