"""The whisper model: find its local directory, load it, transcribe chunks in stream time."""
from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from faster_whisper import WhisperModel
from faster_whisper.utils import available_models, download_model
from faster_whisper.vad import get_vad_model

from chatter_site.lib.errors import ChatterError, ErrorCode
from streamctx import metrics
from streamctx.audio.decode import SAMPLE_RATE
from streamctx.audio.heard import HeardSegment, segments_judge
from streamctx.types import AudioChunk, TimedSegment

logger = logging.getLogger(__name__)

# How long exit waits for a model call in flight (one utterance takes well under a second).
EXIT_WAIT_SECONDS = 15.0
# Whisper pads every input to a 30 s window (3,000 feature frames) and its encoder, which costs
# most of a call, runs over all of it: ~0.5-0.8 s for base int8 on 2 threads even for a
# 3 s utterance. Encoding only the frames that hold audio (at least 10 s' worth, plus 1 s of
# padding) makes a call 4-5x cheaper with no loss of words (bench/asr_latency.py); the model was
# trained on 30 s windows, so CHATTER_WHISPER_FULL_WINDOW=1 keeps the full window for whoever doubts it.
MIN_ENCODER_FRAMES = 1000
PADDING_FRAMES = 100

_live_transcribers: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _wait_for_calls_in_flight() -> None:
    """Let a model call running in a daemon thread (the stream source) finish before the
    interpreter goes: CTranslate2 tearing down under it aborts the process ("terminate called
    without an active exception") and turns a clean stop into a crash. Holding the lock
    afterwards keeps a new call from starting."""
    for transcriber in list(_live_transcribers):
        transcriber._lock.acquire(timeout=EXIT_WAIT_SECONDS)


def whisper_setting(name: str, default: Any) -> Any:
    # Read at call time, so tests and benchmarks can override them.
    return getattr(settings, name, default)


def model_resolve(setting: str) -> str:
    """The local model directory that CHATTER_WHISPER_MODEL names.

    A directory holding model.bin is used as is (relative paths from the working directory, then
    from the project root); a size name ("base", "tiny", …) means `<BASE_DIR>/models/
    faster-whisper-<size>`, or a copy already in the Hugging Face cache. Never downloads.
    """
    setting = (setting or "").strip()
    base_dir = Path(settings.BASE_DIR)
    install_hint = (
        "run `python manage.py install_whisper_model` (installs faster-whisper-base into "
        "models/faster-whisper-base) and set CHATTER_WHISPER_MODEL=models/faster-whisper-base"
    )
    if not setting:
        raise ChatterError(ErrorCode.UNAVAILABLE, f"CHATTER_WHISPER_MODEL is empty; {install_hint}")
    looks_like_path = "/" in setting or "\\" in setting or setting.startswith((".", "~"))
    if looks_like_path:
        given = Path(setting).expanduser()
        candidates = [given] if given.is_absolute() else [Path.cwd() / given, base_dir / given]
        for candidate in candidates:
            if candidate.is_dir():
                problem = _model_dir_problem(candidate)
                if problem:
                    raise ChatterError(
                        ErrorCode.UNAVAILABLE, f"CHATTER_WHISPER_MODEL={setting}: {candidate} is not a faster-whisper model ({problem}); {install_hint}"
                    )
                return str(candidate.resolve())
        raise ChatterError(ErrorCode.UNAVAILABLE, f"CHATTER_WHISPER_MODEL={setting}: no such directory; {install_hint}")

    local = base_dir / "models" / f"faster-whisper-{setting}"
    if local.is_dir() and _model_dir_problem(local) is None:
        return str(local.resolve())
    cached = _hub_cache_lookup(setting)
    if cached:
        return cached
    raise ChatterError(
        ErrorCode.UNAVAILABLE,
        f"CHATTER_WHISPER_MODEL={setting}: no local copy of the '{setting}' model ({local} is missing and nothing "
        f"is in the Hugging Face cache), and models are never downloaded at run time; {install_hint}",
    )


def _model_dir_problem(path: Path) -> str | None:
    # Without tokenizer.json faster-whisper would fetch a tokenizer from the hub.
    for name in ("model.bin", "config.json", "tokenizer.json"):
        if not (path / name).is_file():
            return f"no {name}"
    return None


def _hub_cache_lookup(size: str) -> str | None:
    if size not in available_models():
        return None
    try:
        path = download_model(size, local_files_only=True)
    except Exception:  # huggingface_hub raises several kinds of "not in the cache"
        return None
    return path if _model_dir_problem(Path(path)) is None else None


class FittedWindowWhisperModel(WhisperModel):
    """A WhisperModel whose encoder sees the audio that is there, not 30 s of padding.

    `encode` is the one place faster-whisper hands the padded window to CTranslate2, which
    accepts any length up to 3,000 frames; the padding is the run of all-zero frames at the end
    (real audio, even digital silence, never gives an all-zero log-mel frame).
    """

    def encode(self, features: np.ndarray):
        frames = features.shape[-1]
        columns_with_audio = np.flatnonzero(np.any(features.reshape(-1, frames) != 0, axis=0))
        content = int(columns_with_audio[-1]) + 1 if len(columns_with_audio) else 0
        keep = min(frames, max(MIN_ENCODER_FRAMES, content + PADDING_FRAMES))
        keep += keep % 2  # the encoder's convolution halves the frames
        return super().encode(np.ascontiguousarray(features[..., : min(keep, frames)]))


@dataclass(eq=False)  # one loaded model is one object: identity, hashable for the exit hook
class Transcriber:
    """A loaded faster-whisper model, transcribing chunks into stream-time segments."""

    model: Any  # faster_whisper.WhisperModel
    model_path: str
    language: str | None = "en"
    beam_size: int = 1
    # Totals over this transcriber's life, for benchmarks: seconds spent in the model, audio seconds fed.
    busy_seconds: float = 0.0
    audio_seconds: float = 0.0
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        _live_transcribers.add(self)

    @property
    def english(self) -> bool:
        return (self.language or "").lower().startswith("en")

    def hear(self, chunk: AudioChunk, *, room_slug: str = "-", prompt: str | None = None) -> list[HeardSegment]:
        """Whisper's segments of `chunk` with their words, timed in stream seconds within the chunk.

        Nothing is filtered here (see `heard.segments_judge`), except words the aligner squeezed to
        nothing: whisper ran on past the audio.
        """
        found = self._run(chunk, room_slug=room_slug, prompt=prompt)
        begin, end = chunk.start, chunk.start + chunk.duration

        def at(offset: float) -> float:
            # Whisper's times can run past the audio it was given (its window is longer): clamp.
            return round(min(end, max(begin, begin + float(offset))), 3)

        heard = []
        for segment in found:
            words = [
                TimedSegment(start=at(word.start), end=at(word.end), text=word.word)
                for word in (segment.words or [])
                if word.word.strip() and at(word.end) > at(word.start)
            ]
            if words:
                heard.append(HeardSegment(words=words, compression_ratio=float(segment.compression_ratio)))
        return heard

    def transcribe(self, chunk: AudioChunk, *, room_slug: str = "-", prompt: str | None = None) -> list[TimedSegment]:
        """Segments heard in `chunk` (hallucinations and loops dropped), timed in stream seconds."""
        verdict = segments_judge(self.hear(chunk, room_slug=room_slug, prompt=prompt), published=[], english=self.english)
        return [
            TimedSegment(start=words[0].start, end=words[-1].end, text="".join(word.text for word in words).strip())
            for words in verdict.segments
        ]

    def _run(self, chunk: AudioChunk, *, room_slug: str, prompt: str | None) -> list:
        duration = chunk.duration
        with self._lock:  # one model call at a time: the threads setting is the CPU budget
            started = time.perf_counter()
            segments, _info = self.model.transcribe(
                np.asarray(chunk.samples, dtype=np.float32),
                language=self.language,
                beam_size=self.beam_size,
                vad_filter=True,
                # Each utterance stands alone: conditioning on previous text costs time and lets a
                # hallucination repeat; a short prompt of what was just said keeps the spelling.
                condition_on_previous_text=False,
                initial_prompt=prompt or None,
                # Temperature fallback re-decodes a doubtful chunk up to five times; a live
                # transcript prefers a slightly worse line now to a better one seconds later.
                temperature=0.0,
                # Word times cost next to nothing here (measured) and let every decision (carry-over,
                # echo, the overlap with what was published) work word by word.
                word_timestamps=True,
                # Bounds a repetition loop on noise: normal speech is < 5 tokens a second.
                max_new_tokens=int(duration * 10) + 24,
            )
            segments = list(segments)  # the work happens while iterating
            elapsed = time.perf_counter() - started
            self.busy_seconds += elapsed
            self.audio_seconds += duration
            self.calls += 1
        metrics.ASR_SECONDS.observe(elapsed)
        if duration > 0:
            metrics.ASR_REAL_TIME_FACTOR.labels(room=room_slug).set(elapsed / duration)
        return segments

    def warm_up(self) -> None:
        """The first call pays for lazy allocations (≈2 s); pay it before the stream starts."""
        noise = (np.random.default_rng(0).standard_normal(SAMPLE_RATE) * 0.01).astype(np.float32)
        with self._lock:
            segments, _ = self.model.transcribe(noise, language=self.language, beam_size=self.beam_size, vad_filter=False, max_new_tokens=4)
            list(segments)
        get_vad_model()


def transcriber_load(*, warm_up: bool = True) -> Transcriber:
    """Load the model CHATTER_WHISPER_MODEL names with the device/compute settings."""
    path = model_resolve(str(whisper_setting("CHATTER_WHISPER_MODEL", "base")))
    model_class = WhisperModel if whisper_setting("CHATTER_WHISPER_FULL_WINDOW", False) else FittedWindowWhisperModel

    device = whisper_setting("CHATTER_WHISPER_DEVICE", "cpu")
    compute_type = whisper_setting("CHATTER_WHISPER_COMPUTE_TYPE", "int8")
    threads = int(whisper_setting("CHATTER_WHISPER_THREADS", 2))
    language = whisper_setting("CHATTER_WHISPER_LANGUAGE", "en") or None
    if language == "auto":
        language = None
    try:
        model = model_class(
            path, device=device, compute_type=compute_type, cpu_threads=threads, num_workers=1, local_files_only=True
        )
    except (RuntimeError, ValueError, OSError) as error:
        raise ChatterError(
            ErrorCode.UNAVAILABLE,
            f"cannot load the whisper model at {path} (device={device}, compute_type={compute_type}): {error}",
        ) from None
    logger.info("whisper model %s loaded (device=%s compute_type=%s threads=%d)", path, device, compute_type, threads)
    transcriber = Transcriber(
        model=model, model_path=path, language=language, beam_size=int(whisper_setting("CHATTER_WHISPER_BEAM_SIZE", 1))
    )
    if warm_up:
        transcriber.warm_up()
    return transcriber
