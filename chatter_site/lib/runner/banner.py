"""What the runner says about the running system: the banner once healthy, and its parts."""
from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from chatter_site.lib.runner.services import EmbeddedAddresses

PROCESS_NAMES = {
    "web": "web (Daphne)", "beat": "beat", "stream": "stream (the demo room's scripted stream)", "redis": "redis",
    "llm": "llm (offline)", "chroma": "chroma", "lb": "lb (HAProxy)",
}


@dataclass(frozen=True)
class BannerFacts:
    base_url: str
    seconds: float  # from start to healthy
    daphnes: int
    workers: int
    verbose: bool
    demo_room_url: str | None
    embedded: EmbeddedAddresses
    chroma_dir: Path
    runtime_dir: Path
    log_dir: Path
    children: tuple[str, ...]


def banner_lines(facts: BannerFacts) -> list[str]:
    redis = f"embedded at {redis_url_redacted(facts.embedded.redis_url)}" if facts.embedded.redis_url else "external Redis (REDIS_URL)"
    lines = ["", f"  chatter is running (healthy after {facts.seconds:.1f}s)", "", f"    chat        {facts.base_url}/"]
    if facts.daphnes > 1:
        lines.append(f"    web         {facts.daphnes} Daphne processes behind HAProxy")
    if facts.demo_room_url:
        lines.append(f"    demo room   {facts.demo_room_url}")
    return lines + [
        f"    admin       {facts.base_url}/admin/   (first login: python manage.py createsuperuser)",
        "",
        f"    database    {describe_database()}",
        f"    redis       {redis}",
        f"    llm         {describe_llm(facts.embedded)}",
        f"    memory      {describe_memory(facts.embedded, chroma_dir=facts.chroma_dir)}",
        f"    storage     {describe_storage()}",
        f"    runtime     {facts.runtime_dir}",
        "",
        f"    running     {describe_processes(facts.children, workers=facts.workers)}",
        f"    logs        {facts.log_dir}/<name>.log" + ("" if facts.verbose else "   (--verbose shows them here too)"),
        "",
        "  Below: one line per notable event and a status line a minute. Press Ctrl-C to stop.",
        "",
    ]


def describe_database() -> str:
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        return f"SQLite at {database['NAME']}"
    return "PostgreSQL" if "postgres" in database["ENGINE"] else database["ENGINE"]


def describe_storage() -> str:
    if settings.CHATTER_S3_BUCKET:
        return f"S3 bucket {settings.CHATTER_S3_BUCKET}"
    location = settings.STORAGES["documents"].get("OPTIONS", {}).get("location", settings.MEDIA_ROOT)
    return f"filesystem at {location}"


def describe_llm(embedded: EmbeddedAddresses) -> str:
    if embedded.llm_base_url:
        return f"offline provider at {embedded.llm_base_url}"
    base_url = os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
    host = urllib.parse.urlparse(base_url).netloc or base_url
    return f"OpenAI-compatible endpoint {host} (model {settings.CHATTER_LLM_MODEL})"


def describe_memory(embedded: EmbeddedAddresses, *, chroma_dir: Path) -> str:
    if embedded.chroma_url:
        return f"Chroma server at {embedded.chroma_url} (data in {chroma_dir})"
    scheme = urllib.parse.urlparse(os.environ.get("CHATTER_VECTOR_STORE", "")).scheme or "unknown"
    return f"external vector store (CHATTER_VECTOR_STORE, {scheme})"


def describe_processes(names: tuple[str, ...], *, workers: int) -> str:
    described = {**PROCESS_NAMES, "worker": f"worker (Celery, {workers} processes)"}
    return ", ".join(
        described.get(name) or (f"{name} (Daphne)" if name.startswith("web") else name) for name in names
    )


def redis_url_redacted(url: str) -> str:
    """The URL without its password, for the console."""
    parsed = urllib.parse.urlsplit(url)
    if not parsed.password:
        return url
    netloc = f":***@{parsed.hostname}:{parsed.port}" if parsed.port else f":***@{parsed.hostname}"
    return urllib.parse.urlunsplit(parsed._replace(netloc=netloc))
