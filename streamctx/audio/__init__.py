"""Live audio → timed transcript segments: PyAV decoding, VAD endpointing, faster-whisper.

Whisper pays a fixed cost per call (its encoder always sees a 30 s window: ≈0.5 s for base int8
on 2 threads), so transcribing fixed short slices is both slow and cuts words in half. Instead the
decoded audio is cut into utterances where the speaker pauses (Silero VAD, which ships inside
faster-whisper): a phrase goes to the model ≈0.3 s after it ends, whole. Someone who talks without
a pause is cut after `CHATTER_WHISPER_CHUNK_SECONDS`, at the longest short pause if there is one;
otherwise the words that may be unfinished at the cut are not published but carried over, with
their audio, into the next utterance.

- `model`: finding the local model directory and the Transcriber around faster-whisper;
- `decode`: PyAV decoding of a file, URL or stdin to 16 kHz mono chunks, paced like a live stream;
- `utterances`: cutting at pauses and transcribing chunk by chunk.

Nothing is ever downloaded here: the model is a local directory (see `install_whisper_model`).
"""
from streamctx.audio.decode import SAMPLE_RATE, audio_decode
from streamctx.audio.model import Transcriber, model_resolve, transcriber_load
from streamctx.audio.utterances import UtteranceBuffer, audio_segments, chunks_transcribe

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
