"""The scripted stream source: a timed transcript file played back in real time.

Format, one line per utterance (blank lines and `#` comments ignored); a time is plain seconds,
`MM:SS` or `HH:MM:SS`, each with optional decimals:
    6.5 plain seconds
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

from chatter_site.lib.errors import ChatterError, ErrorCode
from streamctx.types import TimedSegment

_STAMP = r"\d+(?::\d{2}){0,2}(?:\.\d+)?"
_LINE = re.compile(rf"^\[?(?P<start>{_STAMP})(?:\s*-\s*(?P<end>{_STAMP}))?\]?\s+(?P<text>\S.*)$")
FORMAT_HINT = "'<time> text' where the time is seconds (6.5), MM:SS or HH:MM:SS"
WORDS_PER_SECOND = 2.6  # a brisk streamer; used when a line gives no end time


def script_time_parse(stamp: str) -> float:
    """Seconds from `6.5`, `MM:SS(.f)` or `HH:MM:SS(.f)`; ValueError for anything else."""
    parts = stamp.strip().split(":")
    if not 1 <= len(parts) <= 3 or not re.fullmatch(_STAMP, stamp.strip()):
        raise ValueError(f"not a script time: {stamp!r}")
    *whole, last = parts
    if whole and float(last) >= 60 or any(int(part) >= 60 for part in whole[1:]):
        raise ValueError(f"minutes and seconds run 00-59 in {stamp!r}")
    total = 0.0
    for part in parts:
        total = total * 60 + float(part)
    return total


def script_load(path: Path) -> list[TimedSegment]:
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ChatterError(ErrorCode.INVALID, f"cannot read script {path}: {exc.strerror}") from None
    segments = _parse_jsonl(raw, path) if path.suffix == ".jsonl" else _parse_timed_text(raw, path)
    if not segments:
        raise ChatterError(ErrorCode.INVALID, f"script {path} has no timed lines")
    return segments


def _parse_timed_text(raw: str, path: Path) -> list[TimedSegment]:
    rows: list[tuple[float, float | None, str]] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ChatterError(ErrorCode.INVALID, f"{path}:{number}: expected {FORMAT_HINT}, got {line[:60]!r}")
        try:
            start = script_time_parse(match["start"])
            end = script_time_parse(match["end"]) if match["end"] else None
        except ValueError as exc:
            raise ChatterError(ErrorCode.INVALID, f"{path}:{number}: {exc}") from None
        if end is not None and end <= start:
            raise ChatterError(ErrorCode.INVALID, f"{path}:{number}: the end time {match['end']} is not after the start {match['start']}")
        rows.append((start, end, match["text"].strip()))
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
            raise ChatterError(ErrorCode.INVALID, f"{path}:{number}: expected a JSON object with start, end, text") from None
    return sorted(segments, key=lambda segment: segment.start)


_PAUSE = re.compile(r"(?<=[,.!?;:])\s+")


def at_pauses(segment: TimedSegment) -> list[TimedSegment]:
    """A line cut where the speaker pauses (after a comma or a sentence), each piece timed by its share
    of the words: what the live audio source does (it cuts at pauses), so "Oh no, oh no, I missed the
    parry" reaches the room after "Oh no," rather than at the end of the whole line."""
    pieces = [piece for piece in _PAUSE.split(segment.text.strip()) if piece]
    if len(pieces) < 2:
        return [segment]
    total = sum(len(piece.split()) for piece in pieces)
    duration = segment.end - segment.start
    cut, start = [], segment.start
    for index, piece in enumerate(pieces):
        end = segment.end if index == len(pieces) - 1 else start + duration * len(piece.split()) / total
        cut.append(TimedSegment(start=start, end=end, text=piece))
        start = end
    return cut


def script_playback(
    segments: list[TimedSegment], *, loop: bool, gap_seconds: float = 3.0, split_at_pauses: bool = False
) -> Iterator[TimedSegment]:
    """The script's segments in stream time, repeated with growing offsets when looping; with
    `split_at_pauses`, each line in the pieces a speaker pauses between."""
    offset = 0.0
    length = segments[-1].end + gap_seconds
    while True:
        for segment in segments:
            shifted = TimedSegment(start=segment.start + offset, end=segment.end + offset, text=segment.text)
            yield from at_pauses(shifted) if split_at_pauses else (shifted,)
        if not loop:
            return
        offset += length
