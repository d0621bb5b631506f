"""The scripted stream source: a timed transcript file played back in real time.

Format, one line per utterance (blank lines and `#` comments ignored):
    00:04 Okay, he is at low health, this is it chat
    01:02:03 an hour in
    00:12-00:15 an explicit end time
`.jsonl` files hold {"start": s, "end": s, "text": "..."} per line.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from chatter_site.lib.errors import ChatterError
from streamctx.types import TimedSegment

_LINE = re.compile(r"^\[?(?P<start>\d{1,2}(?::\d{2}){1,2}(?:\.\d+)?)(?:\s*-\s*(?P<end>\d{1,2}(?::\d{2}){1,2}(?:\.\d+)?))?\]?\s+(?P<text>\S.*)$")
WORDS_PER_SECOND = 2.6  # a brisk streamer; used when a line gives no end time


def _seconds(stamp: str) -> float:
    total = 0.0
    for part in stamp.split(":"):
        total = total * 60 + float(part)
    return total


def script_load(path: Path) -> list[TimedSegment]:
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ChatterError("invalid", f"cannot read script {path}: {exc.strerror}") from None
    segments = _parse_jsonl(raw, path) if path.suffix == ".jsonl" else _parse_timed_text(raw, path)
    if not segments:
        raise ChatterError("invalid", f"script {path} has no timed lines")
    return segments


def _parse_timed_text(raw: str, path: Path) -> list[TimedSegment]:
    rows: list[tuple[float, float | None, str]] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ChatterError("invalid", f"{path}:{number}: expected 'MM:SS text', got {line[:60]!r}")
        end = _seconds(match["end"]) if match["end"] else None
        rows.append((_seconds(match["start"]), end, match["text"].strip()))
    rows.sort(key=lambda row: row[0])
    segments = []
    for index, (start, end, text) in enumerate(rows):
        spoken = max(1.0, len(text.split()) / WORDS_PER_SECOND)
        if end is None:
            next_start = rows[index + 1][0] if index + 1 < len(rows) else start + spoken
            end = min(start + spoken, max(next_start, start + 0.5))
        segments.append(TimedSegment(start=start, end=max(end, start + 0.1), text=text))
    return segments


def _parse_jsonl(raw: str, path: Path) -> list[TimedSegment]:
    segments = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            segments.append(TimedSegment(start=float(row["start"]), end=float(row["end"]), text=str(row["text"])))
        except (ValueError, KeyError, TypeError):
            raise ChatterError("invalid", f"{path}:{number}: expected a JSON object with start, end, text") from None
    return sorted(segments, key=lambda segment: segment.start)


def script_playback(segments: list[TimedSegment], *, loop: bool, gap_seconds: float = 3.0) -> Iterator[TimedSegment]:
    """The script's segments in stream time, repeated with growing offsets when looping."""
    offset = 0.0
    length = segments[-1].end + gap_seconds
    while True:
        for segment in segments:
            yield TimedSegment(start=segment.start + offset, end=segment.end + offset, text=segment.text)
        if not loop:
            return
        offset += length
