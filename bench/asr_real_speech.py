#!/usr/bin/env python
"""Live speech recognition on recorded human speech: word error rate and real-time factor.

    python bench/asr_real_speech.py                   # every mode, ~2 minutes
    python bench/asr_real_speech.py --modes live,whole --chunk-seconds 6
    python bench/asr_real_speech.py --json results.json

The speech is what Debian's `pocketsphinx-testdata` ships (`apt-get install pocketsphinx-testdata`,
BSD-2, CMU Sphinx): five LibriVox clips of "Sense and Sensibility" read by a human, five "cards"
recordings ("five five", "eight of spades four of clubs …") and "go forward ten meters", 37 s and 82
words in all, with the transcripts the package holds (goforward's from its grammar's first rule).

Modes (each WER is over all the clips, after whisper's English normaliser, so "five five" = "55"):
- live: the clips in order as one stream (each clip's recorded edges are the pauses), decoded and paced in
  real time and transcribed as `run_stream_context --audio` does (cut at pauses, a prompt of what
  was published, echo and loop handling, carry-over);
- live-8k: the same stream resampled to 8 kHz first (telephony-grade audio);
- whole: each clip in one call of the same transcriber, no prompt;
- plain: stock faster-whisper (full 30 s window, beam 1, its own defaults) on each clip: the reference.

RTF is model time / audio time (threads: --threads, default 2). For the live modes the losses are
counted by kind: deletions at a chunk boundary (between the words of two cuts) or inside a cut,
insertions that repeat a word just published (echo) or not (hallucination), substitutions; and the
pipeline's own counts: cuts, model calls, calls decoded again without the prompt, forced cuts,
carry-overs, cuts decoded again (without the prompt after an echo or a loop, or the speech before
the first heard word), words dropped by reason, and cuts on speech that ended with nothing published.
The machine's load average is printed with the results: the model shares the CPU with whatever
else runs.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA = Path("/usr/share/pocketsphinx/test/data")
MODES = ("live", "live-8k", "whole", "plain")
GAP_SECONDS = 0.0  # the clips' own edges are their pauses (0.5 s of digital silence cost 2 words)
SAMPLE_RATE = 16000


@dataclass
class Clip:
    name: str
    path: Path
    reference: str


def corpus_load(scratch: Path, data: Path = DATA) -> list[Clip]:
    """The package's recordings with their transcripts, in reading order."""
    if not (data / "librivox" / "transcription").is_file():
        raise SystemExit(f"{data} has no recordings: apt-get install pocketsphinx-testdata")
    clips = []
    for folder, listing in (("librivox", "transcription"), ("cards", "cards.transcription")):
        for line in (data / folder / listing).read_text().splitlines():
            found = re.match(r"\s*<s>(.*)</s>\s*\((\S+)\)", line)
            if found:
                clips.append(Clip(name=found.group(2), path=data / folder / f"{found.group(2)}.wav", reference=" ".join(found.group(1).split())))
    grammar = (data / "goforward.gram").read_text()
    rule = re.search(r"public <move> = ([^;]+);", grammar)
    raw = scratch / "goforward.wav"
    subprocess.run(["sox", "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1", str(data / "goforward.raw"), str(raw)], check=True)
    clips.append(Clip(name="goforward", path=raw, reference=rule.group(1).strip()))
    return clips


def stream_build(clips: list[Clip], out: Path, gap: float = GAP_SECONDS) -> tuple[list[float], float]:
    """The clips joined with `gap` seconds of silence into one 16 kHz WAV; each clip's start second."""
    import numpy as np

    from streamctx.audio import audio_decode

    pieces, starts, position = [], [], 0.0
    silence = np.zeros(int(gap * SAMPLE_RATE), dtype=np.float32)
    for clip in clips:
        samples = _samples(clip.path, audio_decode)
        starts.append(position)
        pieces += [samples, silence]
        position += (len(samples) + len(silence)) / SAMPLE_RATE
    audio = np.concatenate(pieces)
    with wave.open(str(out), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return starts, len(audio) / SAMPLE_RATE


def _samples(path: Path, audio_decode) -> Any:
    import numpy as np

    return np.concatenate([chunk.samples for chunk in audio_decode(str(path), stop=threading.Event(), realtime=False)])


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------
_normaliser = None


def normalise(text: str) -> str:
    """Whisper's English normaliser ("Mr." = "mister", "ten" = "10", "five five" = "55"), and then
    digits said one by one joined the same way when they were written as digits ("5 5" = "55")."""
    global _normaliser
    if _normaliser is None:
        from whisper_normalizer.english import EnglishTextNormalizer

        _normaliser = EnglishTextNormalizer()
    return re.sub(r"\b(\d)\s+(?=\d\b)", r"\1", " ".join(_normaliser(text).split()))


def score(references: list[str], hypothesis: list[tuple[str, int]]) -> dict[str, Any]:
    """WER of `hypothesis` (words, each with the index of the cut that published it) and its
    errors by kind."""
    import jiwer

    ref = " ".join(normalise(text) for text in references)  # clip by clip: "five five" + "eight" is not 558
    # Normalise word by word so each hypothesis word keeps its cut (the normaliser may split or
    # join a word, e.g. "ill-disposed"; its pieces keep the cut).
    hyp_words: list[str] = []
    cuts: list[int] = []
    for text, cut in hypothesis:
        for piece in normalise(text).split():
            hyp_words.append(piece)
            cuts.append(cut)
    output = jiwer.process_words(ref, " ".join(hyp_words) or "<nothing>")
    ref_words = output.references[0]
    kinds = {"boundary_deletions": 0, "cut_deletions": 0, "echo_insertions": 0, "hallucinations": 0, "substitutions": 0}
    deleted: list[str] = []
    inserted: list[str] = []
    for chunk in output.alignments[0]:
        if chunk.type == "substitute":
            kinds["substitutions"] += chunk.ref_end_idx - chunk.ref_start_idx
        elif chunk.type == "delete":
            before = cuts[chunk.hyp_start_idx - 1] if chunk.hyp_start_idx > 0 else None
            after = cuts[chunk.hyp_start_idx] if chunk.hyp_start_idx < len(cuts) else None
            where = "cut_deletions" if before is not None and before == after else "boundary_deletions"
            kinds[where] += chunk.ref_end_idx - chunk.ref_start_idx
            deleted += ref_words[chunk.ref_start_idx : chunk.ref_end_idx]
        elif chunk.type == "insert":
            for index in range(chunk.hyp_start_idx, chunk.hyp_end_idx):
                recent = hyp_words[max(0, index - 4) : index]
                kinds["echo_insertions" if hyp_words[index] in recent else "hallucinations"] += 1
                inserted.append(hyp_words[index])
    errors = output.substitutions + output.deletions + output.insertions
    return {
        "wer": round(100 * errors / max(1, len(ref_words)), 1),
        "reference_words": len(ref_words),
        "errors": errors,
        **kinds,
        "deleted": deleted,
        "inserted": inserted,
    }


# --------------------------------------------------------------------------------------------
# Modes
# --------------------------------------------------------------------------------------------
def live_run(transcriber, stream: Path, duration: float, *, chunk_seconds: float | None, realtime: bool) -> dict[str, Any]:
    from streamctx.audio import audio_segments

    reports = []
    busy, calls = transcriber.busy_seconds, transcriber.calls
    started = time.monotonic()
    options = {"transcriber": transcriber, "room_slug": "bench-real-speech", "stop": threading.Event(), "realtime": realtime, "chunk_seconds": chunk_seconds}
    try:
        segments = list(audio_segments(str(stream), **options, observe=reports.append))
    except TypeError:  # a checkout from before CutReport (for a before/after comparison): no pipeline counts
        segments = list(audio_segments(str(stream), **options))
    wall = time.monotonic() - started
    cut_of = {id(segment): index for index, report in enumerate(reports) for segment in report.published}
    hypothesis = [(segment.text, cut_of.get(id(segment), -1)) for segment in segments]
    dropped: dict[str, int] = {}
    for report in reports:
        for reason, count in report.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
    decoded = sum(report.end - report.start for report in reports)
    cut_lines = [
        f"{report.start:6.2f}-{report.end:6.2f} {'pause' if report.whole else 'FORCED'}{' +carried' if report.after_carry else ''} "
        f"speech {report.speech_seconds:.2f} s, calls {report.calls}: {' | '.join(segment.text for segment in report.published) or '-'}"
        f"{' dropped ' + str(report.dropped) if report.dropped else ''}"
        for report in reports
    ]
    return {
        "hypothesis": hypothesis,
        "transcript": " ".join(segment.text for segment in segments),
        "cut_log": cut_lines,
        "rtf": round((transcriber.busy_seconds - busy) / duration, 3),
        "wall_seconds": round(wall, 1),
        "audio_seconds": round(duration, 1),
        "cuts": len(reports),
        "model_calls": transcriber.calls - calls,
        "cuts_decoded_again": sum(report.calls > 1 for report in reports),
        "forced_cuts": sum(not report.whole for report in reports),
        "carry_overs": sum(report.carried_over for report in reports),
        "audio_decoded_twice_pct": round(100 * max(0.0, decoded - _unique_span(reports)) / duration, 1),
        "dropped_words": dropped,
        "speech_cuts_with_nothing_published": sum(report.speech_seconds >= 0.3 and not report.published for report in reports),
    }


def _unique_span(reports) -> float:
    covered, last_end = 0.0, 0.0
    for report in sorted(reports, key=lambda report: report.start):
        covered += max(0.0, report.end - max(report.start, last_end))
        last_end = max(last_end, report.end)
    return covered


def whole_run(transcriber, clips: list[Clip]) -> dict[str, Any]:
    from streamctx.audio import audio_decode
    from streamctx.types import AudioChunk

    hypothesis, audio, busy = [], 0.0, transcriber.busy_seconds
    for index, clip in enumerate(clips):
        samples = _samples(clip.path, audio_decode)
        audio += len(samples) / SAMPLE_RATE
        text = " ".join(segment.text for segment in transcriber.transcribe(AudioChunk(start=0.0, samples=samples)))
        hypothesis.append((text, index))
    return {"hypothesis": hypothesis, "rtf": round((transcriber.busy_seconds - busy) / audio, 3), "audio_seconds": round(audio, 1)}


def plain_run(model_path: str, clips: list[Clip], *, threads: int, compute_type: str) -> dict[str, Any]:
    from faster_whisper import WhisperModel

    from streamctx.audio import audio_decode

    model = WhisperModel(model_path, device="cpu", compute_type=compute_type, cpu_threads=threads, local_files_only=True)
    list(model.transcribe(_samples(clips[0].path, audio_decode), language="en", beam_size=1)[0])  # warm up
    hypothesis, audio, busy = [], 0.0, 0.0
    for index, clip in enumerate(clips):
        samples = _samples(clip.path, audio_decode)
        audio += len(samples) / SAMPLE_RATE
        started = time.perf_counter()
        segments, _ = model.transcribe(samples, language="en", beam_size=1)
        text = " ".join(segment.text for segment in segments)
        busy += time.perf_counter() - started
        hypothesis.append((text, index))
    return {"hypothesis": hypothesis, "rtf": round(busy / audio, 3), "audio_seconds": round(audio, 1)}


# --------------------------------------------------------------------------------------------
def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)} (default all)")
    parser.add_argument("--model", default=os.environ.get("CHATTER_WHISPER_MODEL", "models/faster-whisper-base"),
                        help="model directory (default models/faster-whisper-base)")
    parser.add_argument("--threads", type=int, default=2, help="CHATTER_WHISPER_THREADS (default 2)")
    parser.add_argument("--compute-type", default="int8", help="CHATTER_WHISPER_COMPUTE_TYPE (default int8)")
    parser.add_argument("--chunk-seconds", type=float, default=None, help="CHATTER_WHISPER_CHUNK_SECONDS (default: the setting)")
    parser.add_argument("--prompt", choices=("carry", "always", "off"), default=None, help="CHATTER_WHISPER_PROMPT (default: the setting)")
    parser.add_argument("--gap", type=float, default=GAP_SECONDS, help=f"silence between clips in the live stream (default {GAP_SECONDS})")
    parser.add_argument("--not-paced", action="store_true", help="feed the live modes as fast as the model goes (same cuts, quicker)")
    parser.add_argument("--data", type=Path, default=DATA, help=f"pocketsphinx test data (default {DATA})")
    parser.add_argument("--verbose", action="store_true", help="print each mode's transcript and its deleted/inserted words")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    args.modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    unknown = set(args.modes) - set(MODES)
    if unknown:
        parser.error(f"unknown mode(s): {', '.join(sorted(unknown))}")
    if not 1 <= args.threads <= 16:
        parser.error("--threads must be 1..16")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    os.environ.update({"DJANGO_SETTINGS_MODULE": "chatter_site.settings", "CHATTER_LOG_LEVEL": os.environ.get("CHATTER_LOG_LEVEL", "WARNING")})
    os.environ.setdefault("CHATTER_VAR_DIR", tempfile.mkdtemp(prefix="chatter-bench-"))
    import django

    django.setup()
    import logging

    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    from django.test import override_settings

    from streamctx.audio import model_resolve, transcriber_load

    scratch = Path(tempfile.mkdtemp(prefix="asr-real-speech-"))
    clips = corpus_load(scratch, args.data)
    stream = scratch / "stream.wav"
    _, duration = stream_build(clips, stream, args.gap)
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    overrides = {"CHATTER_WHISPER_MODEL": args.model, "CHATTER_WHISPER_THREADS": args.threads, "CHATTER_WHISPER_COMPUTE_TYPE": args.compute_type}
    if args.prompt:
        overrides["CHATTER_WHISPER_PROMPT"] = args.prompt
    with override_settings(**overrides):
        transcriber = transcriber_load()
        model_path = model_resolve(args.model)
        for mode in args.modes:
            if mode == "live":
                run = live_run(transcriber, stream, duration, chunk_seconds=args.chunk_seconds, realtime=not args.not_paced)
            elif mode == "live-8k":
                narrow = scratch / "stream-8k.wav"
                subprocess.run(["sox", str(stream), "-r", "8000", str(narrow)], check=True)
                run = live_run(transcriber, narrow, duration, chunk_seconds=args.chunk_seconds, realtime=not args.not_paced)
            elif mode == "whole":
                run = whole_run(transcriber, clips)
            else:
                run = plain_run(model_path, clips, threads=args.threads, compute_type=args.compute_type)
            run.update(score([clip.reference for clip in clips], run.pop("hypothesis")))
            results[mode] = run
            _print_mode(mode, run, verbose=args.verbose)
    load_after = os.getloadavg()
    results["machine"] = {"cpus": os.cpu_count(), "threads": args.threads, "loadavg_1m_before_after": [round(load_before[0], 2), round(load_after[0], 2)]}
    print(f"\nclips {len(clips)}, {duration:.1f} s of stream, {sum(len(normalise(clip.reference).split()) for clip in clips)} reference words; "
          f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after, on {os.cpu_count()} CPUs")
    if "live" in results and "whole" in results:
        gap = results["live"]["wer"] - results["whole"]["wer"]
        print(f"live WER - whole-file WER: {gap:+.1f} points (target <= 1); "
              f"speech cuts with nothing published: {results['live']['speech_cuts_with_nothing_published']} (target 0); "
              f"live RTF {results['live']['rtf']} (target <= 0.15)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _print_mode(mode: str, run: dict[str, Any], *, verbose: bool) -> None:
    print(f"\n== {mode}: WER {run['wer']}% ({run['errors']} errors / {run['reference_words']} words), RTF {run['rtf']}")
    print(f"   substitutions {run['substitutions']}, deletions at a boundary {run['boundary_deletions']}, inside a cut "
          f"{run['cut_deletions']}, echo insertions {run['echo_insertions']}, hallucinations {run['hallucinations']}")
    if "cuts" in run:
        print(f"   cuts {run['cuts']} (forced {run['forced_cuts']}, carried over {run['carry_overs']}), model calls {run['model_calls']} "
              f"(cuts decoded again {run['cuts_decoded_again']}), audio decoded twice {run['audio_decoded_twice_pct']}%, "
              f"speech cuts with nothing published {run['speech_cuts_with_nothing_published']}, words dropped {run['dropped_words']}")
    if verbose:
        print(f"   deleted {run['deleted']} inserted {run['inserted']}")
        for line in run.get("cut_log", []):
            print(f"   {line}")


if __name__ == "__main__":
    sys.exit(main())
