"""Live audio → timed transcript segments: PyAV decoding, VAD endpointing, faster-whisper.

How it works: docs/architecture.md, "Inside the parts" › streamctx/audio."""
from streamctx.audio.decode import SAMPLE_RATE, audio_decode
from streamctx.audio.endpointing import UtteranceBuffer
from streamctx.audio.model import Transcriber, model_resolve, transcriber_load
from streamctx.audio.utterances import audio_segments, chunks_transcribe

__all__ = [
    "SAMPLE_RATE",
    "Transcriber",
    "UtteranceBuffer",
    "audio_decode",
    "audio_segments",
    "chunks_transcribe",
    "model_resolve",
    "transcriber_load",
]
