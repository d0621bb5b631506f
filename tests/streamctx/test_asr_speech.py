"""No speech dropped, none published twice: prompt echo, repetition loops, hallucinated segments,
stereo mixing, and a recorded human voice through the live path.

The echo case replays the model's real output, recorded from faster-whisper-base on the
benchmark's recorded speech (tests/streamctx/fixtures/prompt_echo.json says how); the recorded
speech is Debian's pocketsphinx-testdata (bench/asr_real_speech.py uses all of it).
"""
from __future__ import annotations

import json
import re
import subprocess
import threading
from pathlib import Path

import jiwer
import numpy as np
import pytest

from streamctx.audio import audio_decode, audio_segments
from streamctx.audio.endpointing import Cut
from streamctx.audio.heard import HeardSegment, loop_cut, norm, segments_judge, unpublished
from streamctx.audio.utterances import _commit, _Committed, _transcribe_cut
from streamctx.types import AudioChunk, TimedSegment

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


def _words(text: str) -> list[str]:
    return [norm(word) for word in text.split() if norm(word)]


def _heard(text: str, *, start: float = 0.0, ratio: float = 1.0) -> HeardSegment:
    return HeardSegment(
        words=[TimedSegment(start=start + i * 0.3, end=start + i * 0.3 + 0.25, text=f" {word}") for i, word in enumerate(text.split())],
        compression_ratio=ratio,
    )


class ReplayedModel:
    """Answers each prompt with what the real model answered for it when the fixture was recorded."""

    english = True

    def __init__(self, calls: list[dict]) -> None:
        self.answers = {call["prompt"]: call["segments"] for call in calls}
        self.prompts: list[str | None] = []

    def hear(self, chunk: AudioChunk, *, room_slug: str = "-", prompt: str | None = None) -> list[HeardSegment]:
        self.prompts.append(prompt)
        return [
            HeardSegment(words=[TimedSegment(start=s, end=e, text=t) for s, e, t in segment["words"]], compression_ratio=segment["compression_ratio"])
            for segment in self.answers[prompt]
        ]


def test_it_publishes_once_the_words_of_a_chunk_whose_prompt_made_the_model_echo(settings):
    """After "… Go forward ten" was published, the carried-over audio of "go forward ten meters"
    with that prompt came back as "10 forward 10 meters. Go" (compression ratio 5.3): the old
    filter dropped it all, "meters" with it; kept as it was, "forward ten" would be said twice."""
    settings.CHATTER_WHISPER_PROMPT = "always"
    fixture = json.loads((FIXTURES / "prompt_echo.json").read_text())
    committed = _Committed(carried=fixture["cut"]["after_carry"])
    for start, end, text in fixture["published_before"]:
        _commit(committed, TimedSegment(start=start, end=end, text=text))
    before = committed.text
    model = ReplayedModel(fixture["calls"])
    cut_info = fixture["cut"]
    chunk = AudioChunk(start=cut_info["start"], samples=np.zeros(int((cut_info["end"] - cut_info["start"]) * 16000), dtype=np.float32))
    cut = Cut(chunk=chunk, whole=cut_info["whole"], speech_seconds=cut_info["speech_seconds"])

    published = list(_transcribe_cut(cut, buffer=None, transcriber=model, room_slug="asr-test", committed=committed))

    assert model.prompts[0] and model.prompts[0].endswith("Go forward 10")  # the prompt that made it echo
    assert [segment.text for segment in published] == ["meters."]
    transcript = _words(before + " " + " ".join(segment.text for segment in published))
    assert transcript[-4:] == ["go", "forward", "ten", "meters"]
    assert transcript.count("forward") == 1 and transcript.count("meters") == 1
    assert published[0].start >= fixture["published_before"][-1][1]  # in stream order


def test_it_keeps_new_words_after_an_echo_and_drops_the_echo():
    published = _words("and rather selfish is to be ill disposed")
    verdict = segments_judge([_heard("to be ill disposed. Had he married")], published=published, english=True)
    fresh, dropped = unpublished(verdict.words, published)
    assert [word.text.strip() for word in fresh] == ["Had", "he", "married"] and dropped == 4
    # A segment that only repeats what was published is dropped whole, wherever it starts.
    verdict = segments_judge([_heard("rather selfish is"), _heard("Had he", start=2)], published=published, english=True)
    assert [word.text.strip() for word in verdict.words] == ["Had", "he"] and verdict.dropped == {"echo": 3}


def test_it_keeps_one_round_of_a_repetition_loop_and_asks_for_another_decoding():
    assert loop_cut(_words("to a polite to a polite to a polite")) == 3
    assert loop_cut(_words("5 5 5 5 5 5 5 5")) == 1
    assert loop_cut(_words("no no no we are fine")) == 6  # said, not looped
    verdict = segments_judge([_heard("we went to a polite to a polite to a polite")], published=[], english=True)
    assert verdict.looped and [word.text.strip() for word in verdict.words] == ["we", "went", "to", "a", "polite"]


def test_it_drops_punctuation_only_and_non_latin_segments_of_an_english_stream():
    segments = [_heard("-----"), _heard("。"), _heard("Big clutch incoming!", start=1), _heard("ご視聴ありがとうございました", start=3)]
    verdict = segments_judge(segments, published=[], english=True)
    assert [" ".join(word.text.strip() for word in words) for words in verdict.segments] == ["Big clutch incoming!"]
    assert verdict.dropped == {"punctuation": 2, "script": 1}
    # Another language's stream keeps its script.
    assert len(segments_judge(segments, published=[], english=False).segments) == 2


def test_it_publishes_nothing_from_a_punctuation_only_call(settings):
    class Punctuation:
        english = True

        def hear(self, chunk, *, room_slug="-", prompt=None):
            return [_heard("- - -", start=chunk.start)]

    chunk = AudioChunk(start=5.0, samples=np.zeros(16000, dtype=np.float32))
    reports = []
    published = list(
        _transcribe_cut(Cut(chunk=chunk, whole=True, speech_seconds=0.1), buffer=None, transcriber=Punctuation(), room_slug="asr-test",
                        committed=_Committed(), observe=reports.append)
    )
    assert published == [] and reports[0].dropped == {"punctuation": 3}


def test_it_mixes_identical_stereo_channels_without_gain(tmp_path):
    mono, stereo = tmp_path / "tone.wav", tmp_path / "tone-stereo.wav"
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "1", str(mono), "synth", "0.5", "sine", "440", "vol", "0.9"], check=True)
    subprocess.run(["sox", str(mono), "-c", "2", str(stereo), "remix", "1", "1"], check=True)
    peaks = {}
    for path in (mono, stereo):
        samples = np.concatenate([chunk.samples for chunk in audio_decode(str(path), stop=threading.Event(), realtime=False)])
        peaks[path.name] = float(np.max(np.abs(samples)))
    assert peaks["tone-stereo.wav"] <= 1.0
    assert peaks["tone-stereo.wav"] == pytest.approx(peaks["tone.wav"], abs=0.01) == pytest.approx(0.9, abs=0.01)


def test_it_drops_no_word_of_recorded_speech_that_the_whole_file_gets(transcriber, settings):
    """6 s of a human reading (LibriVox), cut at most every 3 s: every word the model gets from
    the whole file, the live path publishes too, once."""
    assert LIBRIVOX.is_dir(), "the recorded speech is Debian's pocketsphinx-testdata (bin/test and .ci/run install it)"
    name = "sense_and_sensibility_01_austen_64kb-0920"
    reference_line = next(line for line in (LIBRIVOX / "transcription").read_text().splitlines() if name in line)
    reference = _words(re.sub(r"<s>|</s>|\(.*\)", "", reference_line))
    path = LIBRIVOX / f"{name}.wav"
    samples = np.concatenate([chunk.samples for chunk in audio_decode(str(path), stop=threading.Event(), realtime=False)])
    whole = _words(" ".join(segment.text for segment in transcriber.transcribe(AudioChunk(start=0.0, samples=samples))))
    reports = []
    live_segments = list(
        audio_segments(str(path), transcriber=transcriber, room_slug="asr-test", stop=threading.Event(), realtime=False,
                       chunk_seconds=3, observe=reports.append)
    )
    live = _words(" ".join(segment.text for segment in live_segments))

    def alignment(heard: list[str]):
        return jiwer.process_words(" ".join(reference), " ".join(heard) or "-").alignments[0]

    def indices(heard: list[str], kind: str) -> set[int]:
        return {index for chunk in alignment(heard) if chunk.type == kind for index in range(chunk.ref_start_idx, chunk.ref_end_idx)}

    assert len(reports) >= 2 and any(not report.whole for report in reports)  # it was cut in mid-speech
    # A word heard differently is the model's; a word missing where the whole file has it is the pipeline's.
    assert indices(live, "delete") & indices(whole, "equal") == set(), (whole, live)
    # Said once: no word comes out twice at a cut (an echo repeats a word said beside it). A word heard
    # as two ("made" as "the maid" on some CPUs' int8 kernels) is the model's, like any mishearing.
    echoes = [
        word
        for chunk in alignment(live) if chunk.type == "insert"
        for word in live[chunk.hyp_start_idx:chunk.hyp_end_idx]
        if word in reference[max(0, chunk.ref_start_idx - 3):chunk.ref_start_idx + 3]
    ]
    assert echoes == [], (whole, live)
