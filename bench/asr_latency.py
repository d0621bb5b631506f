#!/usr/bin/env python
"""Speech-to-context benchmark: whisper's real-time factor, and how long a spoken sentence takes
to reach the room's published stream context.

    python bench/asr_latency.py                      # ~60 s of speech: RTF, then a live run
    python bench/asr_latency.py --skip-live          # only the real-time factor (no database)
    python bench/asr_latency.py --cadence 0.5 --background-load 0.5

Speech is made here with espeak-ng, one sentence at a time, and joined with a fixed pause, so the
stream second at which each sentence's last word ends is known exactly.

(i) Real-time factor, as the issue defines it: processing time / audio time (target <= 0.35 for
    base, int8, 2 threads). Measured twice: the whole file in one call (the model alone), and over
    the live run below, where audio is cut at pauses and each utterance costs one model call.
(ii) Word-to-context delay: the file is played in real time through the whole pipeline in this
    process (audio_decode → chunks_transcribe → StreamContextSession, publishing to Redis and
    PostgreSQL as in production). A poller reads the room's latest context from Redis every 20 ms;
    a sentence's delay is from the moment its last word was spoken to the first published context
    whose transcript contains it (>= 60 % of its words in order, including one of its last two).
    Also shown: the delay to recognition (the segment leaving the transcriber), so the share of
    the publish cadence is visible. Target: median < 2.5 s.

Bounded: at most MAX_SPEECH_SECONDS of speech; the live run stops at speech + 20 s.
It needs the model (`python manage.py install_whisper_model`), and for (ii) PostgreSQL and Redis
(DATABASE_URL, default the `test` database; REDIS_URL, default db 14; neither is flushed: the
bench's room is deleted at the end).
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MAX_SPEECH_SECONDS = 180.0
RTF_TARGET = 0.35
DELAY_TARGET = 2.5
POLL_SECONDS = 0.02
ESPEAK_WPM = 150  # espeak's default 175 is harder on the base model than most people are

SENTENCES = [
    "Alright chat, welcome back to the stream.",
    "Today we are doing the boss rush speedrun.",
    "The boss is at low health, big clutch incoming.",
    "Oh no, I missed the parry and now I am almost dead.",
    "Chat, should I go for the risky skip or play it safe?",
    "Let me check the map before we jump down.",
    "That was the cleanest run I have done all week.",
    "We need more potions before the final fight.",
    "Thanks for the follow, and welcome to everyone new.",
    "The dragon is flying back to the tower now.",
    "I cannot believe that worked on the first try.",
    "Okay, time for the last phase, wish me luck.",
    "My hands are shaking, this is so intense.",
    "Somebody in chat said to use the fire sword.",
    "We are going to take a short break after this level.",
    "The music in this area is absolutely beautiful.",
    "Remember to stay hydrated and drink some water.",
    "Watch out for the archers on the left side.",
    "I think the secret door is behind the waterfall.",
    "What a game, that was a perfect ending.",
    "The new patch made the shield much stronger.",
    "Let us try the hard mode tomorrow night.",
    "Please be nice to each other in the chat.",
    "The timer says we are ahead of my best pace.",
]


@dataclass
class Spoken:
    text: str
    start: float  # stream seconds
    speech_end: float  # stream second the last word ends (trailing silence excluded)
    words: list[str]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_recall(reference: list[Spoken], heard: list[str]) -> float:
    """Share of the spoken words found, in order, in what was heard (1 - a deletion/substitution rate)."""
    wanted = [word for sentence in reference for word in sentence.words]
    matcher = difflib.SequenceMatcher(None, wanted, heard, autojunk=False)
    return round(sum(block.size for block in matcher.get_matching_blocks()) / len(wanted), 3)


def contains(transcript_words: list[str], sentence: Spoken) -> bool:
    """Does the transcript hold this sentence, allowing for a few misheard words?"""
    wanted = sentence.words
    matcher = difflib.SequenceMatcher(None, wanted, transcript_words, autojunk=False)
    matched = set()
    for block in matcher.get_matching_blocks():
        matched.update(range(block.a, block.a + block.size))
    return len(matched) >= 0.6 * len(wanted) and bool(matched & {len(wanted) - 1, len(wanted) - 2})


# --------------------------------------------------------------------------------------------
# Speech
# --------------------------------------------------------------------------------------------
def speech_build(directory: Path, *, seconds: float, gap: float) -> tuple[Path, list[Spoken], float]:
    """espeak-ng sentences joined with `gap` seconds of silence into one 16 kHz WAV."""
    import numpy as np

    from streamctx.audio import SAMPLE_RATE, audio_decode

    stop = threading.Event()
    pieces: list[np.ndarray] = []
    spoken: list[Spoken] = []
    position = 0.0
    index = 0
    silence = np.zeros(int(gap * SAMPLE_RATE), dtype=np.float32)
    while position < seconds:
        text = SENTENCES[index % len(SENTENCES)]
        path = directory / f"sentence-{index}.wav"
        subprocess.run(["espeak-ng", "-s", str(ESPEAK_WPM), "-w", str(path), text], check=True, capture_output=True)
        samples = np.concatenate([chunk.samples for chunk in audio_decode(str(path), stop=stop, realtime=False)])
        loud = np.flatnonzero(np.abs(samples) > 0.02 * float(np.max(np.abs(samples))))
        spoken.append(Spoken(text=text, start=position, speech_end=position + (loud[-1] + 1) / SAMPLE_RATE, words=_words(text)))
        pieces += [samples, silence]
        position += (len(samples) + len(silence)) / SAMPLE_RATE
        index += 1
    audio = np.concatenate(pieces)
    out = directory / "speech.wav"
    with wave.open(str(out), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return out, spoken, len(audio) / SAMPLE_RATE


# --------------------------------------------------------------------------------------------
# (i) real-time factor of the model alone
# --------------------------------------------------------------------------------------------
def rtf_offline(transcriber, path: Path, spoken: list[Spoken], duration: float) -> dict[str, Any]:
    import numpy as np

    from streamctx.audio import audio_decode

    samples = np.concatenate([chunk.samples for chunk in audio_decode(str(path), stop=threading.Event(), realtime=False)])
    started = time.perf_counter()
    segments, _ = transcriber.model.transcribe(
        samples, language=transcriber.language, beam_size=transcriber.beam_size, vad_filter=True, condition_on_previous_text=False
    )
    text = " ".join(segment.text for segment in segments)
    elapsed = time.perf_counter() - started
    found = _words(text)
    return {
        "audio_seconds": round(duration, 2),
        "wall_seconds": round(elapsed, 2),
        "rtf": round(elapsed / duration, 3),
        "speed_x_real_time": round(duration / elapsed, 2),
        "sentences_recognised": sum(contains(found, sentence) for sentence in spoken),
        "word_recall": word_recall(spoken, found),
        "sentences": len(spoken),
    }


# --------------------------------------------------------------------------------------------
# (ii) live: word-to-context delay
# --------------------------------------------------------------------------------------------
def live_run(transcriber, path: Path, spoken: list[Spoken], duration: float, *, cadence: float, chunk_seconds: float | None) -> dict[str, Any]:
    from django.conf import settings
    from django.db import DatabaseError

    from chat.events import latest_context_key
    from chat.models import Room
    from chatter_site.lib.redis import redis_client
    from streamctx.audio import audio_decode, chunks_transcribe
    from streamctx.pipeline import StreamContextSession, new_source_id

    room = Room.objects.create(slug=f"bench-asr-{uuid.uuid4().hex[:8]}", title="ASR latency bench")
    stop = threading.Event()
    clock: dict[str, float] = {}
    recognised_at: dict[int, float] = {}
    published_at: dict[int, float] = {}
    heard: list[str] = []
    busy_before, audio_before, calls_before = transcriber.busy_seconds, transcriber.audio_seconds, transcriber.calls

    def timed_chunks():
        for chunk in audio_decode(str(path), stop=stop, realtime=True):
            if "start" not in clock:  # the first chunk is released when it has finished playing
                clock["start"] = time.monotonic() - (chunk.start + chunk.duration)
            yield chunk

    def timed_segments():
        for segment in chunks_transcribe(timed_chunks(), transcriber=transcriber, room_slug=room.slug, stop=stop, chunk_seconds=chunk_seconds):
            now = time.monotonic()
            heard.extend(_words(segment.text))
            for index, sentence in enumerate(spoken):
                if index not in recognised_at and contains(heard[-80:], sentence):
                    recognised_at[index] = now
            yield segment

    session = StreamContextSession(
        room=room, source_id=new_source_id("bench"), window_seconds=settings.STREAMCTX_WINDOW_SECONDS, cadence=cadence
    )
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["reason"] = session.run(timed_segments(), max_seconds=duration + 20, stop=stop)
        except BaseException as exc:  # reported below
            outcome["error"] = exc
            stop.set()

    client = redis_client()
    key = latest_context_key(room.slug)
    worker = threading.Thread(target=run, name="bench-session", daemon=True)
    started = time.monotonic()
    worker.start()
    last_seq: list[int | None] = [None]

    def poll() -> None:
        raw = client.get(key)
        now = time.monotonic()
        if not raw:
            return
        context = json.loads(raw)
        if context["seq"] == last_seq[0]:
            return
        last_seq[0] = context["seq"]
        found = _words(context["transcript"])
        for index, sentence in enumerate(spoken):
            if index not in published_at and contains(found, sentence):
                published_at[index] = now

    try:
        while worker.is_alive():
            poll()
            time.sleep(POLL_SECONDS)
        worker.join()
        poll()  # the final context, published as the source ended
    finally:
        stop.set()
        worker.join(timeout=10)
        try:
            Room.objects.filter(pk=room.pk).delete()
        except DatabaseError as error:  # e.g. a table another app has not migrated yet
            print(f"warning: could not delete the bench room {room.slug}: {error}", file=sys.stderr)
    if "error" in outcome:
        raise outcome["error"]
    wall = time.monotonic() - started
    if "start" not in clock:
        raise RuntimeError("no audio was played")

    def delays(seen: dict[int, float]) -> list[float]:
        return [seen[i] - (clock["start"] + spoken[i].speech_end) for i in sorted(seen)]

    busy = transcriber.busy_seconds - busy_before
    fed = transcriber.audio_seconds - audio_before
    return {
        "stop_reason": outcome.get("reason"),
        "wall_seconds": round(wall, 1),
        "cadence": cadence,
        "published": session.published,
        "rtf_live": round(busy / duration, 3),
        "rtf_per_utterance": round(busy / fed, 3) if fed else None,
        "model_calls": transcriber.calls - calls_before,
        "word_recall": word_recall(spoken, heard),
        "sentences": len(spoken),
        "recognised": _summary(delays(recognised_at), len(spoken)),
        "published_delay": _summary(delays(published_at), len(spoken)),
        "per_sentence": [
            {
                "text": sentence.text,
                "spoken_end": round(sentence.speech_end, 2),
                "recognised": round(recognised_at[i] - clock["start"] - sentence.speech_end, 2) if i in recognised_at else None,
                "published": round(published_at[i] - clock["start"] - sentence.speech_end, 2) if i in published_at else None,
            }
            for i, sentence in enumerate(spoken)
        ],
    }


def _summary(values: list[float], total: int) -> dict[str, Any]:
    if not values:
        return {"count": 0, "missed": total}
    ordered = sorted(values)
    return {
        "count": len(values),
        "missed": total - len(values),
        "median": round(statistics.median(ordered), 2),
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 2),
        "max": round(ordered[-1], 2),
        "min": round(ordered[0], 2),
    }


# --------------------------------------------------------------------------------------------
def _background_load(fraction: float) -> subprocess.Popen | None:
    """One process keeping `fraction` of a core busy: the rest of the system (Daphne, workers)."""
    if fraction <= 0:
        return None
    code = (
        "import time\n"
        f"busy = {fraction} * 0.02\n"
        "while True:\n"
        "    end = time.perf_counter() + busy\n"
        "    while time.perf_counter() < end: pass\n"
        f"    time.sleep({1 - fraction} * 0.02)\n"
    )
    return subprocess.Popen([sys.executable, "-c", code])


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help=f"seconds of speech to make (max {MAX_SPEECH_SECONDS:g})")
    parser.add_argument("--gap", type=float, default=0.5, help="pause between sentences, seconds (default 0.5)")
    parser.add_argument("--model", default=os.environ.get("CHATTER_WHISPER_MODEL", "models/faster-whisper-base"),
                        help="CHATTER_WHISPER_MODEL for the run (default models/faster-whisper-base)")
    parser.add_argument("--threads", type=int, default=2, help="CHATTER_WHISPER_THREADS (default 2)")
    parser.add_argument("--compute-type", default="int8", help="CHATTER_WHISPER_COMPUTE_TYPE (default int8)")
    parser.add_argument("--full-window", action="store_true",
                        help="CHATTER_WHISPER_FULL_WINDOW: encode whisper's whole 30 s window for every utterance")
    parser.add_argument("--chunk-seconds", type=float, default=None, help="CHATTER_WHISPER_CHUNK_SECONDS (default: the setting)")
    parser.add_argument("--endpoint-silence", type=float, default=None,
                        help="pause that ends an utterance, seconds (default: streamctx.audio.endpointing's ENDPOINT_SILENCE_SECONDS)")
    parser.add_argument("--cadence", type=float, default=None, help="publish cadence, seconds (default: CHATTER_STREAMCTX_CADENCE)")
    parser.add_argument("--background-load", type=float, default=0.0,
                        help="fraction of one core kept busy by another process during the runs (0-1)")
    parser.add_argument("--skip-rtf", action="store_true", help="skip the whole-file real-time factor")
    parser.add_argument("--skip-live", action="store_true", help="skip the live run (needs no database or Redis)")
    parser.add_argument("--skip-migrate", action="store_true")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"))
    parser.add_argument("--verbose", action="store_true", help="print every sentence's delays")
    parser.add_argument("--json", action="store_true", help="print the results as JSON at the end")
    args = parser.parse_args(argv)
    if not 5 <= args.seconds <= MAX_SPEECH_SECONDS:
        parser.error(f"--seconds must be 5..{MAX_SPEECH_SECONDS:g}")
    if not 0.1 <= args.gap <= 3:
        parser.error("--gap must be 0.1..3")
    if not 0 <= args.background_load < 1:
        parser.error("--background-load must be in [0, 1)")
    if args.cadence is not None and not 0.2 <= args.cadence <= 10:
        parser.error("--cadence must be 0.2..10")
    if not 1 <= args.threads <= 16:
        parser.error("--threads must be 1..16")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "chatter_site.settings",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "CHATTER_LOG_LEVEL": os.environ.get("CHATTER_LOG_LEVEL", "WARNING"),
        }
    )
    os.environ.setdefault("CHATTER_VAR_DIR", tempfile.mkdtemp(prefix="chatter-bench-"))
    if not args.skip_live and not args.skip_migrate:
        done = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
            return 2
    import django

    django.setup()
    import logging

    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    from django.conf import settings

    settings.CHATTER_WHISPER_MODEL = args.model
    settings.CHATTER_WHISPER_THREADS = args.threads
    settings.CHATTER_WHISPER_COMPUTE_TYPE = args.compute_type
    settings.CHATTER_WHISPER_FULL_WINDOW = args.full_window
    cadence = args.cadence or settings.STREAMCTX_CADENCE_SECONDS

    from chatter_site.lib.errors import ChatterError
    from streamctx.audio import endpointing, transcriber_load

    if args.endpoint_silence is not None:
        endpointing.ENDPOINT_SILENCE_SECONDS = args.endpoint_silence
    results: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "endpoint_silence": endpointing.ENDPOINT_SILENCE_SECONDS,
    }
    with tempfile.TemporaryDirectory(prefix="chatter-asr-bench-") as work:
        path, spoken, duration = speech_build(Path(work), seconds=args.seconds, gap=args.gap)
        try:
            started = time.perf_counter()
            transcriber = transcriber_load()
        except ChatterError as error:
            print(f"error: {error.message}", file=sys.stderr)
            return 2
        results["model"] = {
            "path": transcriber.model_path, "compute_type": args.compute_type, "threads": args.threads,
            "beam_size": transcriber.beam_size, "full_window": args.full_window, "load_seconds": round(time.perf_counter() - started, 2),
        }
        print(f"speech: {len(spoken)} espeak-ng sentences, {duration:.1f} s, {args.gap:g} s pauses; model {transcriber.model_path} "
              f"({args.compute_type}, {args.threads} threads, beam {transcriber.beam_size}, "
              f"{'full 30 s' if args.full_window else 'fitted'} encoder window); {os.cpu_count()} CPUs, "
              f"load average {results['load_average_before'][0]}; background load {args.background_load:g} core", flush=True)
        load = _background_load(args.background_load)
        try:
            if not args.skip_rtf:
                rtf = results["offline"] = rtf_offline(transcriber, path, spoken, duration)
                print(f"(i) whole file in one call: {rtf['wall_seconds']} s for {rtf['audio_seconds']} s of audio -> "
                      f"RTF {rtf['rtf']} (processing/audio; target <= {RTF_TARGET}), i.e. {rtf['speed_x_real_time']}x real time; "
                      f"{rtf['sentences_recognised']}/{rtf['sentences']} sentences recognised, word recall {rtf['word_recall']}", flush=True)
            if not args.skip_live:
                live = results["live"] = live_run(transcriber, path, spoken, duration, cadence=cadence, chunk_seconds=args.chunk_seconds)
                if args.verbose:
                    for row in live["per_sentence"]:
                        print(f"    {row['spoken_end']:7.2f}  recognised +{row['recognised']}  published +{row['published']}  {row['text']}")
                rec, pub = live["recognised"], live["published_delay"]
                print(f"(i) live, cut at pauses: {live['model_calls']} model calls, word recall {live['word_recall']}, RTF {live['rtf_live']} over the stream "
                      f"({live['rtf_per_utterance']} over the audio sent to the model); target <= {RTF_TARGET}")
                print(f"(ii) last word spoken -> recognised:          median {rec.get('median')} s, p90 {rec.get('p90')} s, "
                      f"max {rec.get('max')} s ({rec['count']}/{live['sentences']} sentences)")
                print(f"(ii) last word spoken -> in published context: median {pub.get('median')} s, p90 {pub.get('p90')} s, "
                      f"max {pub.get('max')} s ({pub['count']}/{live['sentences']}; publish cadence {cadence:g} s); "
                      f"target median < {DELAY_TARGET} s")
        finally:
            if load is not None:
                load.terminate()
                load.wait(timeout=5)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
