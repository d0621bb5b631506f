"""What the runner hands its children: the environment, and command lines that cover every queue."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings

from chatter_site.lib.offline_llm.server import CONTROL_TOKEN_ENV
from chatter_site.lib.runner.commands import worker_command
from chatter_site.lib.runner.environment import child_environment
from chatter_site.lib.runner.services import EmbeddedAddresses

EMBEDDED = EmbeddedAddresses(
    redis_url="redis://:pw@127.0.0.1:7001/0",
    llm_base_url="http://127.0.0.1:7002/v1",
    llm_control_token="token",
    chroma_url="chroma://127.0.0.1:7003",
)


def test_it_consumes_every_routed_queue_in_the_runners_worker() -> None:
    argv = worker_command(concurrency=2)
    consumed = set(argv[argv.index("-Q") + 1].split(","))
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} <= consumed


def test_it_hands_the_embedded_services_to_children_in_their_environment(tmp_path: Path) -> None:
    env = child_environment(base={"HOME": "/home/x"}, runtime_dir=tmp_path, embedded=EMBEDDED, behind_proxy=False)
    assert env["REDIS_URL"] == EMBEDDED.redis_url
    assert (env["OPENAI_BASE_URL"], env["OPENAI_API_KEY"]) == (EMBEDDED.llm_base_url, "offline")
    assert env[CONTROL_TOKEN_ENV] == "token" and env["CHATTER_VECTOR_STORE"] == EMBEDDED.chroma_url
    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path / "metrics") and env["HOME"] == "/home/x"
    assert "CHATTER_TRUSTED_PROXIES" not in env


def test_it_leaves_external_services_as_the_environment_named_them(tmp_path: Path) -> None:
    base = {"REDIS_URL": "redis://redis.internal:6379/0", "OPENAI_BASE_URL": "https://llm.example.com/v1"}
    env = child_environment(base=base, runtime_dir=tmp_path, embedded=EmbeddedAddresses(), behind_proxy=True)
    assert env["REDIS_URL"] == base["REDIS_URL"] and env["OPENAI_BASE_URL"] == base["OPENAI_BASE_URL"]
    assert "CHATTER_VECTOR_STORE" not in env and CONTROL_TOKEN_ENV not in env
    assert env["CHATTER_TRUSTED_PROXIES"] == "127.0.0.1/32,::1/128"  # every socket comes through HAProxy


def test_it_records_only_what_the_runner_started() -> None:
    assert EmbeddedAddresses(redis_url="redis://x/0").record() == {"redis_url": "redis://x/0"}
    assert set(EMBEDDED.record()) == {"redis_url", "openai_base_url", "llm_control_token", "chroma_url"}
