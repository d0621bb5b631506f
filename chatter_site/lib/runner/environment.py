"""The environment of every process the runner starts: how the app processes learn about the
embedded services. The runner never changes its own settings; its children read theirs fresh."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from chatter_site.lib.offline_llm.server import CONTROL_TOKEN_ENV
from chatter_site.lib.runner.services import EmbeddedAddresses

OFFLINE_LLM_API_KEY = "offline"  # the provider ignores keys; the openai client insists on one
METRICS_DIRNAME = "metrics"  # under the runtime dir: prometheus_client's multiprocess samples
LOOPBACK_PROXIES = "127.0.0.1/32,::1/128"


def child_environment(
    *, base: Mapping[str, str], runtime_dir: Path, embedded: EmbeddedAddresses, behind_proxy: bool
) -> dict[str, str]:
    """`base` (the runner's own environment) plus what the children must share with it."""
    env = {
        **base,
        "PYTHONUNBUFFERED": "1",  # children's lines must reach the console as they happen
        "DJANGO_SETTINGS_MODULE": base.get("DJANGO_SETTINGS_MODULE", "chatter_site.settings"),
        "PROMETHEUS_MULTIPROC_DIR": str(runtime_dir / METRICS_DIRNAME),
    }
    # Explicit, so a child never depends on reading services.json at the right moment.
    if embedded.redis_url:
        env["REDIS_URL"] = embedded.redis_url
    if embedded.llm_base_url:
        env["OPENAI_BASE_URL"] = embedded.llm_base_url
        env["OPENAI_API_KEY"] = OFFLINE_LLM_API_KEY
    if embedded.llm_control_token:
        env[CONTROL_TOKEN_ENV] = embedded.llm_control_token
    if embedded.chroma_url:
        env["CHATTER_VECTOR_STORE"] = embedded.chroma_url
    if behind_proxy and not env.get("CHATTER_TRUSTED_PROXIES"):
        # Every socket arrives from the local HAProxy: count clients by its X-Forwarded-For.
        env["CHATTER_TRUSTED_PROXIES"] = LOOPBACK_PROXIES
    return env
