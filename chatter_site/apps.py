from __future__ import annotations

import os
from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class ChatterSiteConfig(AppConfig):
    """Registered so the cross-app commands (`runchatter`) live beside the settings."""

    name = "chatter_site"
    verbose_name = "chatter"

    def ready(self) -> None:
        local_state_prepare()


def local_state_prepare() -> None:
    """What a process of this checkout needs before it serves: done here, not when settings are imported.

    SQLite cannot create its directory; whitenoise warns on every request without STATIC_ROOT; Mem0
    reads its variables when first imported (memory.store imports it lazily, after this).
    """
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3") and str(database["NAME"]) != ":memory:":
        Path(database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MEM0_TELEMETRY", "False")  # no calls home from an offline machine
    os.environ.setdefault("MEM0_DIR", str(settings.MEMORY_DIR))
