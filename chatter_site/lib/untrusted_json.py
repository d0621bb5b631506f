"""Parsing JSON that a client sent: every way it can fail is a ValueError.

`json.loads` raises RecursionError, not ValueError, on deeply nested input ("[" * 2000 fits in a
16 KiB WebSocket frame), so a caller that only catches ValueError crashes on it.
"""
from __future__ import annotations

import json
from typing import Any


def json_loads_untrusted(raw: str | bytes | bytearray) -> Any:
    """json.loads for client input; raises ValueError for anything that is not usable JSON."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
